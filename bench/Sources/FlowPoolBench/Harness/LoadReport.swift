import Foundation

/// The whole report of one `flowpool-bench load` invocation, as written by `--json-out`.
struct LoadReport: Sendable, Codable {
    /// Where and how the figures were taken.
    struct Environment: Sendable, Codable {
        var date: String
        var cores: Int
        /// 1, 5 and 15 minute load averages when the invocation started and when it ended.
        var loadAverageAtStart: [Double]
        var loadAverage: [Double]
        var command: String
        var poolMode: String
    }

    /// One step of a sweep: the offered rate and what the pool did with it.
    struct SweepPoint: Sendable, Codable {
        var offeredPerSecond: Double
        var jobsPerSecond: Double
        var p50Ms: Double
        var p99Ms: Double
        var p999Ms: Double
        var rejected: Int
        var saturated: Bool
    }

    /// One worker count of a scaling run.
    struct ScalingPoint: Sendable, Codable {
        var workers: Int
        var jobsPerSecond: Double
        var p99Ms: Double
        var eventsLost: Int
    }

    var environment: Environment
    var transportBaseline: TransportBaseline?
    /// The pyzmq + PocketFlow pool measured before and after the closed loop (`--python-reference`).
    var pythonReference: PythonReference?
    /// Messages through the coordinator per run (protocol count), used for the transport fraction.
    var messagesPerRun: Int?
    /// Pool messages per second over the raw PUSH/PULL rate of the same run.
    var transportFraction: Double?
    var phases: [PhaseReport]
    var sweep: [SweepPoint]?
    var saturationPerSecond: Double?
    var scaling: [ScalingPoint]?
    /// Every phase verified: no run lost or doubled and (except in chaos mode, where a killed worker's unsent
    /// events are lost with it) no event lost.
    var verified: Bool

    /// The 1, 5 and 15 minute load averages now.
    static func loadAverage() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        _ = getloadavg(&loads, 3)
        return loads.map { ($0 * 100).rounded() / 100 }
    }

    static func environment(command: String, poolMode: String, startDate: Date, loadAtStart: [Double]) -> Environment {
        Environment(
            date: ISO8601DateFormatter().string(from: startDate),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            loadAverageAtStart: loadAtStart,
            loadAverage: loadAverage(),
            command: command,
            poolMode: poolMode
        )
    }

    /// Pretty, key-sorted JSON.
    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}

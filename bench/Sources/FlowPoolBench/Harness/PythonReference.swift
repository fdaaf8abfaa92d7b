import Foundation

/// The hand-written pyzmq + PocketFlow pool of `bench/python/`, run with the same workers, runs in flight and
/// duration as the pool's closed loop, so that the pool's rate is reported as a ratio measured in one run.
struct PythonReference: Sendable, Codable, Equatable {
    /// What `pyzmq_pool.py` prints on its standard output (one JSON object; only the fields used here).
    struct Figures: Sendable, Codable, Equatable {
        var workers: Int
        var window: Int
        var durationS: Double
        var jobsPerS: Double
        var runsCompleted: Int
        var eventsExpected: Int
        var eventsReceived: Int
        var eventsLost: Int
        var lossPct: Double?
        var cpuUsPerRun: Double?
        var python: String?
        var pyzmq: String?
        var libzmq: String?
        var pocketflow: String?

        enum CodingKeys: String, CodingKey {
            case workers, window
            case durationS = "duration_s"
            case jobsPerS = "jobs_per_s"
            case runsCompleted = "runs_completed"
            case eventsExpected = "events_expected"
            case eventsReceived = "events_received"
            case eventsLost = "events_lost"
            case lossPct = "loss_pct"
            case cpuUsPerRun = "cpu_us_per_run"
            case python, pyzmq, libzmq, pocketflow
        }
    }

    var script: String
    /// One measurement before the pool's closed loop and one after it.
    var before: Figures
    var after: Figures

    var meanJobsPerSecond: Double { (before.jobsPerS + after.jobsPerS) / 2 }

    /// Runs the reference once and returns what it printed.
    ///
    /// Runs on a thread of its own (never on Swift's cooperative pool): it waits for a child process.
    static func measure(
        script: String,
        workers: Int,
        inFlight: Int,
        seconds: Double,
        warmup: Double
    ) async throws -> Figures {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Figures, any Error>) in
            let thread = Thread {
                c.resume(
                    with: Result {
                        try measureBlocking(
                            script: script,
                            arguments: [
                                "--workers", "\(workers)", "--window", "\(inFlight)",
                                "--duration", "\(seconds)", "--warmup", "\(max(warmup, 0))",
                            ]
                        )
                    }
                )
            }
            thread.name = "fpb-reference"
            thread.start()
        }
    }

    private static func measureBlocking(script: String, arguments: [String]) throws -> Figures {
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw BenchError(
                .setup,
                "the Python reference \(script) is not an executable file; pass the path of bench/python/run.sh"
            )
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        // Its one-line summary and any pip output go to the harness's standard error.
        process.standardError = FileHandle.standardError
        try process.run()
        // The report is one line of well under a pipe's capacity, but read while it runs all the same.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError(
                .setup,
                "the Python reference \(script) exited with status \(process.terminationStatus); its standard error above says why"
            )
        }
        guard let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last(where: { $0.hasPrefix("{") })
        else {
            throw BenchError(.setup, "the Python reference \(script) printed no JSON report")
        }
        do {
            return try JSONDecoder().decode(Figures.self, from: Data(line.utf8))
        } catch {
            throw BenchError(.setup, "the Python reference's report could not be read: \(error)")
        }
    }
}

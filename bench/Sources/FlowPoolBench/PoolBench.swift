import ArgumentParser
import FlowCore
import FlowPool
import Foundation
import Histogram
import Logging
import Synchronization
import ZeroMQ

/// `flowpool-bench pool`: agent4 through a real pool of processes, with one external subscriber.
struct PoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "agent4 jobs/s end to end (submit → recorded result) and events/s to one subscriber.",
        discussion: """
            Starts `flowpool coordinator` and W `flowpool worker` processes (the `flowpool` executable next to \
            this one), submits agent4 runs from this process with a window of outstanding runs, and counts \
            the events of the namespace on a plain SUB socket (no gap repair: what it misses is reported \
            lost).
            """
    )

    @Option(help: "Worker counts to measure, comma-separated.")
    var workers = "1,2"

    @Option(help: "Runs per measurement.")
    var runs = 50_000

    @Option(help: "Runs outstanding at once (submitted, result not yet back).")
    var window = 2000

    @Option(help: "Concurrency of each worker.")
    var concurrency = 64

    @Option(help: "Namespace of the runs.")
    var namespace = "sales_agent"

    @Option(help: "Log level of the worker processes (their logs go to the bench's temporary directory).")
    var workerLogLevel = "warning"

    @Option(help: "The flowpool executable (default: next to this one).")
    var flowpool: String?

    func validate() throws {
        guard runs > 0, window > 0, concurrency > 0 else { throw ValidationError("counts must be positive") }
        guard !workerCounts.isEmpty else { throw ValidationError("--workers needs at least one count") }
    }

    var workerCounts: [Int] { workers.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } }

    func run() async throws {
        let settings = self
        try await Task.detached { try await settings.measureAll() }.value
    }

    private func measureAll() async throws {
        let exe =
            flowpool
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("flowpool").path
        print("pool bench: \(runs) agent4 runs, window \(window), worker concurrency \(concurrency), \(exe)")
        print(
            "| workers | jobs/s | events/s to subscriber | events lost | p50 ms | p99 ms | p99.9 ms | CPU µs/job coordinator | workers | client+subscriber |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for w in workerCounts {
            let r = try await measure(workers: w, executable: exe)
            print(
                "| \(w) | \(Int(r.jobsPerSecond)) | \(Int(r.eventsPerSecond)) | \(r.lost) | \(fmt(r.p50)) | \(fmt(r.p99)) | \(fmt(r.p999)) | \(Int(r.cpuCoordinator)) | \(Int(r.cpuWorkers)) | \(Int(r.cpuClient)) |"
            )
        }
    }

    private func fmt(_ ms: Double) -> String { String(format: "%.1f", ms) }

    struct Result {
        var jobsPerSecond: Double
        var eventsPerSecond: Double
        var lost: Int
        var p50: Double
        var p99: Double
        var p999: Double
        var cpuCoordinator: Double
        var cpuWorkers: Double
        var cpuClient: Double
    }

    /// CPU seconds (user + system) a process has used so far, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func measure(workers w: Int, executable: String) async throws -> Result {
        let dir = NSTemporaryDirectory() + "flowpool-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let endpointsFile = "\(dir)/endpoints.json"
        var processes: [Process] = []
        defer {
            for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            for p in processes { p.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
        processes.append(
            try spawn(
                executable,
                [
                    "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                    "--events-in-port", "0", "--events-out-port", "0", "--endpoints-file", endpointsFile,
                    "--max-queue", "\(max(10_000, window * 2))", "--log-level", "warning",
                ],
                log: "\(dir)/coordinator.err"
            )
        )
        var endpoints: JSONValue = nil
        for _ in 0..<200 {
            if let data = FileManager.default.contents(atPath: endpointsFile), !data.isEmpty {
                endpoints = try JSONValue(wireBytes: Array(data))
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let control = endpoints["control"]?.stringValue, let eventsOut = endpoints["events_out"]?.stringValue
        else { throw ValidationError("the coordinator did not start; see \(dir)") }
        for i in 0..<w {
            processes.append(
                try spawn(
                    executable,
                    [
                        "worker", "--coordinator", control, "--concurrency", "\(concurrency)", "--log-level",
                        workerLogLevel,
                    ],
                    log: "\(dir)/worker\(i).err"
                )
            )
        }
        let client = try await PoolClient.connect(to: control)
        for _ in 0..<200 {
            if try await client.status()["workers"]?.arrayValue?.count == w { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let counter = try await SubscriberCounter.start(endpoint: eventsOut, prefix: namespace + "/")
        // Warm-up.
        let warm = min(2000, runs)
        try await drive(client, runs: warm, label: "warm")
        for _ in 0..<400 where counter.count < warm * Agent4.eventsPerRun {
            try await Task.sleep(for: .milliseconds(5))
        }
        counter.reset()

        let pids = processes.map(\.processIdentifier)
        let selfPid = getpid()
        let cpuBefore = pids.map(Self.cpuSeconds)
        let selfBefore = Self.cpuSeconds(selfPid)
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await drive(client, runs: runs, label: "run")
        let jobsElapsed = clock.now - start
        let expected = runs * Agent4.eventsPerRun
        let deadline = clock.now + .seconds(30)
        while counter.count < expected && clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let eventsElapsed = counter.lastEventTime.map { $0 - start } ?? (clock.now - start)
        let received = counter.count
        let cpuAfter = pids.map(Self.cpuSeconds)
        let selfAfter = Self.cpuSeconds(selfPid)
        let perJob = { (seconds: Double) in seconds * 1e6 / Double(runs) }
        let workerCPU = zip(cpuAfter.dropFirst(), cpuBefore.dropFirst()).reduce(0) { $0 + $1.0 - $1.1 }
        await counter.stop()
        await client.close()
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        return Result(
            jobsPerSecond: Double(runs) / seconds(jobsElapsed),
            eventsPerSecond: Double(received) / seconds(eventsElapsed),
            lost: max(0, expected - received),
            p50: Double(latencies.valueAtPercentile(50)) / 1000,
            p99: Double(latencies.valueAtPercentile(99)) / 1000,
            p999: Double(latencies.valueAtPercentile(99.9)) / 1000,
            cpuCoordinator: perJob(cpuAfter[0] - cpuBefore[0]),
            cpuWorkers: perJob(workerCPU),
            cpuClient: perJob(selfAfter - selfBefore)
        )
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Submits `runs` agent4 runs with `window` outstanding; returns submit→result latencies in µs.
    @discardableResult
    private func drive(_ client: PoolClient, runs: Int, label: String) async throws -> Histogram<UInt64> {
        let namespace = self.namespace
        return try await withThrowingTaskGroup(of: UInt64.self) { group in
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var inFlight = 0
            for i in 0..<runs {
                if inFlight >= window, let us = try await group.next() {
                    histogram.record(us)
                    inFlight -= 1
                }
                group.addTask {
                    let clock = ContinuousClock()
                    let t0 = clock.now
                    while true {
                        do {
                            let s = try await client.submit(
                                "agent4",
                                namespace: namespace,
                                input: ["question": .string("\(label) \(i)")]
                            )
                            _ = try await client.result(of: s)
                            let d = clock.now - t0
                            return UInt64(d.components.seconds) * 1_000_000
                                + UInt64(d.components.attoseconds / 1_000_000_000_000)
                        } catch let error as PoolError where error.remoteCode == .poolFull {
                            try await Task.sleep(for: .milliseconds(2))
                        }
                    }
                }
                inFlight += 1
            }
            for try await us in group { histogram.record(us) }
            return histogram
        }
    }

    private func spawn(_ executable: String, _ arguments: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }
}

/// Counts the events of a prefix on a plain SUB socket, on its own I/O thread.
final class SubscriberCounter: Sendable {
    let loop: SocketLoop
    private let counted = Atomic<Int>(0)
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    private init(loop: SocketLoop) { self.loop = loop }

    static func start(endpoint: String, prefix: String) async throws -> SubscriberCounter {
        let context = try Context()
        let loop = try SocketLoop(
            context: context,
            name: "fp-bench-sub",
            batchSize: 1024,
            logger: Logger(label: "bench")
        )
        loop.start()
        let counter = SubscriberCounter(loop: loop)
        let socket = try Socket(context, .sub)
        try socket.set(.receiveHighWaterMark(1_000_000))
        try socket.connect(endpoint)
        try socket.set(.subscribe(Array(prefix.utf8)))
        _ = try loop.add(socket, maxFrames: 2) { frames, _ in
            guard frames.count == 2 else { return }
            counter.counted.add(1, ordering: .relaxed)
            counter.last.withLock { $0 = ContinuousClock.now }
        }
        // Give the subscription time to reach the coordinator.
        try await Task.sleep(for: .milliseconds(300))
        return counter
    }

    var count: Int { counted.load(ordering: .relaxed) }
    var lastEventTime: ContinuousClock.Instant? { last.withLock { $0 } }

    func reset() {
        counted.store(0, ordering: .relaxed)
        last.withLock { $0 = nil }
    }

    func stop() async { await loop.shutdown() }
}

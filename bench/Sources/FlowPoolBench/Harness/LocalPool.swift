import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization

/// A coordinator and workers started by the harness as real processes on loopback, with free ports.
///
/// ``stop()`` stops and reaps every process it started, including workers restarted by chaos mode.
final class LocalPool: Sendable {
    struct Options: Sendable {
        var executable: String
        var workers: Int
        var workerConcurrency: Int
        var coordinatorArguments: [String] = []
        var workerArguments: [String] = []
    }

    let options: Options
    let directory: String
    let coordinator: ChildProcess
    let control: String
    private let state = Mutex<(workers: [ChildProcess], retired: [ChildProcess], started: Int)>(([], [], 0))
    private let teardown = Mutex<SignalTeardown?>(nil)

    private init(options: Options, directory: String, coordinator: ChildProcess, control: String) {
        self.options = options
        self.directory = directory
        self.coordinator = coordinator
        self.control = control
    }

    /// The `flowpool` executable next to this one, or on `PATH` as a fallback.
    static func defaultExecutable() -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let sibling = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("flowpool").path
        return sibling
    }

    /// Starts a coordinator and the workers and waits until every worker is registered.
    static func start(_ options: Options, logger: Logger) async throws -> LocalPool {
        guard FileManager.default.isExecutableFile(atPath: options.executable) else {
            throw BenchError(
                .setup,
                "no flowpool executable at \(options.executable); build it (swift build -c release --product flowpool) or pass --flowpool PATH"
            )
        }
        let directory = NSTemporaryDirectory() + "flowpool-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let endpointsFile = "\(directory)/endpoints.json"
        let coordinator = try ChildProcess(
            name: "coordinator",
            executable: options.executable,
            arguments: [
                "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                "--events-in-port", "0", "--events-out-port", "0", "--endpoints-file", endpointsFile,
                "--log-level", "warning",
            ] + options.coordinatorArguments,
            directory: directory
        )
        do {
            let control = try await waitForEndpoints(endpointsFile, coordinator: coordinator)
            let pool = LocalPool(options: options, directory: directory, coordinator: coordinator, control: control)
            pool.teardown.withLock {
                $0 = SignalTeardown { [weak pool] in (pool?.allProcesses ?? []).filter(\.isRunning).map(\.pid) }
            }
            do {
                for _ in 0..<options.workers { _ = try pool.startWorker() }
                try await pool.waitForWorkers(options.workers, logger: logger)
                return pool
            } catch {
                await pool.stop()
                throw error
            }
        } catch {
            await coordinator.stop(grace: 2)
            throw error
        }
    }

    private static func waitForEndpoints(_ path: String, coordinator: ChildProcess) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: path), !data.isEmpty,
                let value = try? JSONValue(wireBytes: Array(data)), let control = value["control"]?.stringValue
            {
                return control
            }
            guard coordinator.isRunning else {
                throw BenchError(.setup, "the coordinator exited at start-up: \(coordinator.stderrTail())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError(
            .setup,
            "the coordinator did not report its endpoints within 30 s: \(coordinator.stderrTail())"
        )
    }

    /// The live worker processes.
    var workers: [ChildProcess] { state.withLock { $0.workers } }

    /// Every process ever started, live or not (for CPU and memory figures).
    var allProcesses: [ChildProcess] { state.withLock { [coordinator] + $0.workers + $0.retired } }

    /// Starts one more worker.
    @discardableResult
    func startWorker() throws -> ChildProcess {
        let n = state.withLock { s in
            s.started += 1
            return s.started
        }
        let worker = try ChildProcess(
            name: "worker\(n)",
            executable: options.executable,
            arguments: [
                "worker", "--coordinator", control, "--concurrency", "\(options.workerConcurrency)",
                "--log-level", "warning",
            ] + options.workerArguments,
            directory: directory
        )
        state.withLock { $0.workers.append(worker) }
        return worker
    }

    /// Kills a worker with SIGKILL (no chance to finish anything) and starts a replacement.
    func killAndReplace(_ index: Int) async throws -> ChildProcess? {
        let victim: ChildProcess? = state.withLock { s in
            guard !s.workers.isEmpty else { return nil }
            let v = s.workers.remove(at: index % s.workers.count)
            s.retired.append(v)
            return v
        }
        guard let victim else { return nil }
        await victim.killNow()
        try startWorker()
        return victim
    }

    /// Waits until the coordinator lists `count` live workers.
    func waitForWorkers(_ count: Int, seconds: Double = 30, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var last = 0
        while ContinuousClock.now < deadline {
            if let status = try? await PoolClient.withConnection(
                to: control,
                timeout: .seconds(5),
                logger: logger,
                {
                    try await $0.status()
                }
            ) {
                last = status["workers"]?.arrayValue?.count ?? 0
                if last >= count { return }
            }
            for w in workers where !w.isRunning {
                throw BenchError(.setup, "\(w.name) exited at start-up: \(w.stderrTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError(.setup, "only \(last) of \(count) workers registered within \(Int(seconds)) s")
    }

    /// Stops (SIGTERM, then SIGKILL) and reaps every process, workers first.
    func stop() async {
        teardown.withLock {
            $0?.cancel()
            $0 = nil
        }
        for w in workers { w.signal(SIGTERM) }
        for w in workers { await w.stop(grace: 5) }
        await coordinator.stop(grace: 5)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

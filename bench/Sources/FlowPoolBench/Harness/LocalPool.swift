import FlowCore
import FlowPool
import Foundation
import Logging
import ProcessSupervision
import Synchronization

/// A coordinator and workers started by the harness as real processes on loopback, with free ports.
///
/// The processes run under a ``ProcessSupervisor`` for the length of ``withPool(_:logger:isolation:_:)``: their
/// output is drained, they are stopped and reaped when it returns (workers first, SIGTERM then SIGKILL), and
/// each one stops by itself if the harness dies without stopping them (see ``ParentDeathSignal``).
final class LocalPool: Sendable {
    struct Options: Sendable {
        var executable: String
        var workers: Int
        var workerConcurrency: Int
        var coordinatorArguments: [String] = []
        var workerArguments: [String] = []
        /// A namespace whose web page is kept open (`flowpool web` and one live page), or nil.
        var webPage: String?
    }

    /// How long a process may take to exit after SIGTERM before it gets SIGKILL.
    static let grace: Duration = .seconds(5)
    /// How long the coordinator may take to print its endpoints.
    static let coordinatorReadyTimeout: Duration = .seconds(30)
    /// Not passed on to the processes: one metrics port in the environment cannot serve several processes on
    /// one host (`--coordinator-arg=--metrics-port=P` and `--worker-arg=--metrics-port=0` still work).
    static let environment: [String: String?] = ["FLOWPOOL_METRICS_PORT": nil, "FLOWPOOL_METRICS_HOST": nil]

    let options: Options
    let coordinator: ProcessSupervisor.Child
    let control: String
    private let supervisor: ProcessSupervisor
    private let state = Mutex<(workers: [ProcessSupervisor.Child], retired: [ProcessSupervisor.Child], started: Int)>(
        ([], [], 0)
    )
    private let web = Mutex<ProcessSupervisor.Child?>(nil)

    private init(options: Options, supervisor: ProcessSupervisor, coordinator: ProcessSupervisor.Child, control: String)
    {
        self.options = options
        self.supervisor = supervisor
        self.coordinator = coordinator
        self.control = control
    }

    /// The `flowpool` executable next to this one.
    static func defaultExecutable() -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let sibling = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("flowpool").path
        return sibling
    }

    /// Starts a coordinator and the workers, waits until every worker is registered, runs `body`, then stops
    /// and reaps every process it started (workers restarted by chaos mode included), also when `body` throws.
    ///
    /// - Parameters:
    ///   - options: The executable, the worker count and concurrency, extra arguments.
    ///   - logger: Receives a line per process start and exit (debug).
    ///   - isolation: The actor `body` runs on, the caller's by default.
    ///   - body: Works with the running pool.
    /// - Returns: What `body` returned.
    /// - Throws: ``BenchError`` `.setup` when the pool does not come up; what `body` threw.
    static func withPool<T>(
        _ options: Options,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LocalPool) async throws -> T
    ) async throws -> T {
        guard FileManager.default.isExecutableFile(atPath: options.executable) else {
            throw BenchError(
                .setup,
                "no flowpool executable at \(options.executable); build it (swift build -c release --product flowpool) or pass --flowpool PATH"
            )
        }
        return try await ProcessSupervisor.withSupervisor(
            executable: options.executable,
            grace: grace,
            logger: logger
        ) { supervisor in
            let coordinator = try await supervisor.start(
                "coordinator",
                arguments: [
                    "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                    "--events-in-port", "0", "--events-out-port", "0", "--log-level", "warning",
                    // As long as the supervisor waits before SIGKILL; also bounds a stop after the harness died.
                    "--drain-timeout", "\(Int(grace.components.seconds))",
                ] + options.coordinatorArguments,
                environment: environment
            )
            let control = try await controlEndpoint(of: coordinator)
            let pool = LocalPool(options: options, supervisor: supervisor, coordinator: coordinator, control: control)
            // Ctrl-C or SIGTERM to the harness: kill the pool at once rather than leave it draining.
            let teardown = SignalTeardown { pool.runningProcesses.map(\.pid) }
            defer { teardown.cancel() }
            do {
                for _ in 0..<options.workers { try await pool.startWorker() }
                try await pool.waitForWorkers(options.workers, logger: logger)
                var page: WebPageReader?
                if let namespace = options.webPage {
                    page = try WebPageReader(try await pool.startWebView() + "api/ns/\(namespace)/stream")
                }
                let result = try await body(pool)
                if let page {
                    page.close()
                    logger.info("web page: \(page.messages) messages, \(page.bytes) bytes received")
                }
                await pool.stop()
                return result
            } catch {
                pool.reportStandardError()
                await pool.stop()
                throw error
            }
        }
    }

    /// Reads the coordinator's control endpoint from its start-up lines (`control tcp://…`).
    private static func controlEndpoint(of coordinator: ProcessSupervisor.Child) async throws -> String {
        let found = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await line in coordinator.lines {
                    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                    if fields.count == 2, fields[0] == "control" { return String(fields[1]) }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: coordinatorReadyTimeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        if let found { return found }
        let why = coordinator.exit.map { "exited at start-up (\($0))" } ?? "did not report its endpoints within 30 s"
        throw BenchError(.setup, "the coordinator \(why): \(coordinator.stderrTail.suffix(10).joined(separator: "\n"))")
    }

    /// The live worker processes.
    var workers: [ProcessSupervisor.Child] { state.withLock { $0.workers } }

    /// The processes still running, by name and pid (for CPU and memory figures).
    var runningProcesses: [(name: String, pid: Int32)] {
        let all = state.withLock { [coordinator] + $0.workers + $0.retired } + (web.withLock { $0 }.map { [$0] } ?? [])
        return all.compactMap { child in child.isRunning ? child.pid.map { (child.name, $0) } : nil }
    }

    /// Starts `flowpool web` against the pool and returns its address (`http://127.0.0.1:PORT/`).
    func startWebView() async throws -> String {
        let child = try await supervisor.start(
            "web",
            arguments: ["web", "--coordinator", control, "--port", "0", "--log-level", "warning"],
            environment: Self.environment
        )
        web.withLock { $0 = child }
        let found = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await line in child.lines where line.hasPrefix("web view at ") {
                    return String(line.dropFirst("web view at ".count))
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: Self.coordinatorReadyTimeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        guard let found else {
            throw BenchError(
                .setup,
                "flowpool web did not start: \(child.stderrTail.suffix(10).joined(separator: "\n"))"
            )
        }
        return found
    }

    /// Starts one more worker and returns once it runs.
    @discardableResult
    func startWorker() async throws -> ProcessSupervisor.Child {
        let n = state.withLock { s in
            s.started += 1
            return s.started
        }
        let worker = try await supervisor.start(
            "worker\(n)",
            arguments: [
                "worker", "--coordinator", control, "--concurrency", "\(options.workerConcurrency)",
                "--log-level", "warning",
            ] + options.workerArguments,
            environment: Self.environment
        )
        state.withLock { $0.workers.append(worker) }
        return worker
    }

    /// Kills a worker with SIGKILL (no chance to finish anything), waits until it is reaped and starts a
    /// replacement; returns the killed one.
    func killAndReplace(_ index: Int) async throws -> ProcessSupervisor.Child? {
        let victim: ProcessSupervisor.Child? = state.withLock { s in
            guard !s.workers.isEmpty else { return nil }
            let v = s.workers.remove(at: index % s.workers.count)
            s.retired.append(v)
            return v
        }
        guard let victim else { return nil }
        await supervisor.kill(victim)
        try await startWorker()
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
                keys: BenchKeys.client,
                logger: logger,
                { try await $0.status() }
            ) {
                last = status["workers"]?.arrayValue?.count ?? 0
                if last >= count { return }
            }
            for w in workers where w.exit != nil {
                throw BenchError(
                    .setup,
                    "\(w.name) exited at start-up (\(w.exit?.description ?? "?")): "
                        + w.stderrTail.suffix(10).joined(separator: "\n")
                )
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError(.setup, "only \(last) of \(count) workers registered within \(Int(seconds)) s")
    }

    /// Stops every worker at once (they drain), then the coordinator; returns once all are reaped.
    private func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for w in workers { group.addTask { await self.supervisor.stop(w) } }
        }
        await supervisor.stop(coordinator)
    }

    /// The last lines of every process's standard error, on this process's standard error.
    private func reportStandardError() {
        let all = state.withLock { [coordinator] + $0.workers + $0.retired } + (web.withLock { $0 }.map { [$0] } ?? [])
        for p in all {
            let tail = p.stderrTail.suffix(5).joined(separator: "\n")
            if !tail.isEmpty { FileHandle.standardError.write(Data("---- \(p.name)\n\(tail)\n".utf8)) }
        }
    }
}

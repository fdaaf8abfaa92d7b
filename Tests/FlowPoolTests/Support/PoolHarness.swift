import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

/// One spawned `flowpool` process (or another executable's), its output captured in files.
final class PoolProcess: Sendable {
    let name: String
    let process: Process
    let stdoutPath: String
    let stderrPath: String
    private final class ExitState: Sendable {
        let value = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
    }
    private let exitState = ExitState()

    /// Starts `executable` (`flowpool` by default) with `arguments`; with a `launcher`, starts the launcher's
    /// program with its arguments followed by the executable and `arguments` (as `setpriv … flowpool …` would).
    /// `environment` is added to the test's own.
    init(
        name: String,
        arguments: [String],
        directory: String,
        launcher: [String] = [],
        executable: String = PoolHarness.executable,
        environment: [String: String] = [:]
    ) throws {
        self.name = name
        stdoutPath = "\(directory)/\(name).out"
        stderrPath = "\(directory)/\(name).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let exitState = self.exitState
        process.terminationHandler = { p in
            let status = p.terminationStatus
            let waiters = exitState.value.withLock { state in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            for w in waiters { w.resume(returning: status) }
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { exitState.value.withLock { $0.status == nil } }

    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// Waits for the exit status, or nil after `seconds`.
    func waitForExit(seconds: Double) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                    let status: Int32? = self.exitState.value.withLock { state in
                        if let s = state.status { return s }
                        state.waiters.append(c)
                        return nil
                    }
                    if let status { c.resume(returning: status) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            if first == nil {
                // Unblock the waiter task so the group can finish.
                let waiters = exitState.value.withLock { state in
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for w in waiters { w.resume(returning: -1) }
            }
            return first
        }
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; always reaps.
    func stop(grace: Double = 5) async {
        guard isRunning else { return }
        signal(SIGTERM)
        if await waitForExit(seconds: grace) == nil {
            signal(SIGKILL)
            _ = await waitForExit(seconds: 10)
        }
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
}

/// A coordinator and workers as real processes on loopback with ephemeral ports.
final class PoolHarness: Sendable {
    /// The `flowpool` executable next to the test bundle (built by `swift build --build-tests`), or the one in
    /// `FLOWPOOL_TEST_BIN_DIR` when that is set (to run the process tests against another build, a release one say).
    static let executable: String = {
        if let dir = ProcessInfo.processInfo.environment["FLOWPOOL_TEST_BIN_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent("flowpool").path
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The runner may live inside the .xctest bundle directory.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("flowpool").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/flowpool"
    }()

    let directory: String
    let coordinator: PoolProcess
    let control: String
    let endpoints: JSONValue
    private let workerList = Mutex<[PoolProcess]>([])
    private let counter = Atomic<Int>(0)

    /// The keys the harness's own status requests use, for a coordinator with keys.
    let keys: PoolKeys?

    private init(
        directory: String,
        coordinator: PoolProcess,
        control: String,
        endpoints: JSONValue,
        keys: PoolKeys? = nil
    ) {
        self.keys = keys
        self.directory = directory
        self.coordinator = coordinator
        self.control = control
        self.endpoints = endpoints
    }

    var workers: [PoolProcess] { workerList.withLock { $0 } }

    /// Starts a coordinator (through `coordinatorLauncher`, if any; see ``PoolProcess``) and `workers` workers,
    /// runs `body`, and stops and reaps every process.
    static func with(
        workers: Int,
        coordinatorArguments: [String] = [],
        coordinatorLauncher: [String] = [],
        workerArguments: [String] = [],
        keys: PoolKeys? = nil,
        _ body: (PoolHarness) async throws -> Void
    ) async throws {
        #expect(FileManager.default.isExecutableFile(atPath: executable), "flowpool not built at \(executable)")
        let directory = NSTemporaryDirectory() + "flowpool-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let endpointsFile = "\(directory)/endpoints.json"
        let coordinator = try PoolProcess(
            name: "coordinator",
            arguments: [
                "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                "--events-in-port", "0", "--events-out-port", "0", "--endpoints-file", endpointsFile,
                "--heartbeat-timeout-ms", "2000", "--log-level", "warning",
            ] + coordinatorArguments,
            directory: directory,
            launcher: coordinatorLauncher
        )
        var harness: PoolHarness?
        do {
            let endpoints = try await Self.waitForFile(endpointsFile, process: coordinator)
            let control = try #require(endpoints["control"]?.stringValue)
            let h = PoolHarness(
                directory: directory,
                coordinator: coordinator,
                control: control,
                endpoints: endpoints,
                keys: keys
            )
            harness = h
            for _ in 0..<workers { _ = try h.startWorker(workerArguments) }
            try await h.waitForWorkers(workers)
            try await body(h)
        } catch {
            await Self.teardown(harness, coordinator)
            Self.dumpLogs(directory)
            throw error
        }
        await Self.teardown(harness, coordinator)
        // Kept when the body threw (its logs were printed), removed otherwise.
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// ``with(workers:coordinatorArguments:coordinatorLauncher:workerArguments:keys:_:)`` with CURVE keys: a
    /// ``LocalKeySet`` (coordinator, worker and client keys, its allow-list) in a temporary directory, removed
    /// afterwards; `body` gets the set too.
    static func withKeySet(
        workers: Int,
        _ body: (PoolHarness, LocalKeySet) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "flowpool-keys-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try LocalKeySet(directory: directory)
        try await with(
            workers: workers,
            coordinatorArguments: keys.coordinatorArguments,
            workerArguments: keys.workerArguments,
            keys: keys.client
        ) { pool in try await body(pool, keys) }
    }

    private static func teardown(_ harness: PoolHarness?, _ coordinator: PoolProcess) async {
        for w in harness?.workers ?? [] { await w.stop(grace: 5) }
        await coordinator.stop(grace: 5)
    }

    /// Prints the last lines of every process's standard error in `directory`.
    static func dumpLogs(_ directory: String) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for f in files.sorted() where f.hasSuffix(".err") {
            let text = (try? String(contentsOfFile: "\(directory)/\(f)", encoding: .utf8)) ?? ""
            print("---- \(f) (last lines)\n" + text.split(separator: "\n").suffix(20).joined(separator: "\n"))
        }
    }

    /// Waits until the coordinator `process` has written its endpoints file at `path`.
    static func waitForFile(_ path: String, process: PoolProcess, seconds: Int = 20) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: path), !data.isEmpty {
                return try JSONValue(wireBytes: Array(data))
            }
            guard process.isRunning else { throw HarnessError("coordinator exited: \(process.stderr)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("coordinator did not write \(path) in time: \(process.stderr)")
    }

    /// Starts one more worker process: `flowpool worker`, or an executable of its own that runs the worker command
    /// (`WorkerMain.run`), with `environment` added to the test's own. It is stopped and reaped with the pool.
    func startWorker(
        _ arguments: [String] = [],
        executable: String? = nil,
        environment: [String: String] = [:]
    ) throws -> PoolProcess {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let worker = try PoolProcess(
            name: "worker\(n)",
            arguments: (executable == nil ? ["worker"] : [])
                + ["--coordinator", control, "--heartbeat-ms", "100", "--log-level", "warning"] + arguments,
            directory: directory,
            executable: executable ?? PoolHarness.executable,
            environment: environment
        )
        workerList.withLock { $0.append(worker) }
        return worker
    }

    /// Waits until the coordinator lists `count` live workers.
    func waitForWorkers(_ count: Int, seconds: Double = 20) async throws {
        try await until(seconds: seconds, "\(count) workers registered") {
            try await self.status()["workers"]?.arrayValue?.count == count
        }
    }

    /// The coordinator's status, through a short-lived client.
    func status() async throws -> JSONValue {
        try await PoolClient.withConnection(to: control, timeout: .seconds(10), keys: keys) { try await $0.status() }
    }

    /// A counter from the status.
    func counter(_ name: String) async throws -> Int {
        try await status()["counters"]?[name]?.intValue ?? 0
    }

    /// Polls `condition` until it holds or the deadline passes.
    func until(seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("timed out waiting for \(what)")
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects events of a subscription in the background.
final class EventCollector: Sendable {
    private let state = Mutex<(events: [WireEvent], terminals: Int)>(([], 0))

    var events: [WireEvent] { state.withLock { $0.events } }
    var terminals: Int { state.withLock { $0.terminals } }
    var count: Int { state.withLock { $0.events.count } }

    func add(_ e: WireEvent) {
        state.withLock { s in
            s.events.append(e)
            if e.event.type.isTerminal { s.terminals += 1 }
        }
    }

    /// Per run: the delivered events in order.
    var byRun: [String: [WireEvent]] {
        Dictionary(grouping: events) { "\($0.event.namespace)/\($0.event.runId)" }
    }
}

extension PoolEvents {
    /// Iterates until the sequence ends, adding every event to `collector`.
    func collect(into collector: EventCollector) async {
        for await e in withAttempts { collector.add(e) }
    }
}

/// Checks that a run's delivered events end with exactly one terminal event and that the events of its last
/// attempt count 1, 2, 3, … without gap or duplicate.
func expectCompleteRun(
    _ events: [WireEvent],
    expectedLastAttemptEvents: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let terminals = events.filter { $0.event.type.isTerminal }
    #expect(
        terminals.count == 1,
        "\(events.first?.event.runId ?? "?"): \(terminals.count) terminal events",
        sourceLocation: sourceLocation
    )
    #expect(events.last?.event.type.isTerminal == true, sourceLocation: sourceLocation)
    guard let last = events.last else { return }
    let lastAttempt = events.filter { $0.attempt == last.attempt }.map { Int($0.event.seq) }
    #expect(lastAttempt == Array(1...max(1, lastAttempt.count)), "seqs \(lastAttempt)", sourceLocation: sourceLocation)
    if let n = expectedLastAttemptEvents {
        #expect(lastAttempt.count == n, sourceLocation: sourceLocation)
    }
}

/// A SUB socket that never reads: small buffers, a loop that stops reading as soon as one message waits.
final class FrozenSubscriber: Sendable {
    let loop: SocketLoop

    private init(loop: SocketLoop) { self.loop = loop }

    static func connect(to endpoint: String, prefix: String) async throws -> FrozenSubscriber {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fp-frozen", logger: Logger(label: "frozen"))
        loop.start()
        let socket = try Socket(context, .sub)
        try socket.set(.receiveHighWaterMark(10))
        try socket.set(.int32(option: 12, value: 4096))  // ZMQ_RCVBUF
        try socket.connect(endpoint)
        try socket.set(.subscribe(Array(prefix.utf8)))
        _ = try loop.addStream(socket, policy: .backpressure(capacity: 1), maxFrames: 2)
        return FrozenSubscriber(loop: loop)
    }

    func close() {
        let loop = self.loop
        Task { await loop.shutdown() }
    }
}

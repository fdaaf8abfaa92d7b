import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Logging
import ProcessSupervision
import Synchronization
import UnixSignals

/// One `flowpool demo`: starts the pool in child processes, runs the questions, prints, stops the pool.
struct DemoSession: Sendable {
    /// How a demo ended.
    enum Outcome: Sendable {
        /// Every run completed and the pool stopped cleanly.
        case success
        /// Something failed; the message says what.
        case failure(String)
        /// A signal (its name and number) stopped the demo.
        case interrupted(String, Int32)
    }

    var questions: [DemoQuestion]
    var workers: Int
    var printer: EventPrinter
    var runTimeout: Duration
    var tokenDelayMs: Int
    var logLevel: String
    /// Run the pool with CURVE keys (a key set in the session's directory).
    var curve = false
    /// The web view's port (0: a free one), or nil for no web view; with one, the demo keeps the pool and the view
    /// open after the answers, until Ctrl-C.
    var webPort: Int?
    var logger: Logger
    /// Set once every run has been answered: a signal after that ends the demo as a success.
    let answered = Answered()

    final class Answered: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    /// How long a child may take to exit after SIGTERM before it gets SIGKILL.
    static let grace: Duration = .seconds(5)
    /// How long the coordinator may take to print its endpoints.
    static let coordinatorReadyTimeout: Duration = .seconds(20)
    /// How long the workers may take to register.
    static let workersReadyTimeout: Duration = .seconds(30)

    /// Runs the demo; never throws: every ending is an ``Outcome``, after every child has exited.
    func run() async -> Outcome {
        // The coordinator keeps its journal in a directory of the session's own, removed at the end.
        let dataDirectory = NSTemporaryDirectory() + "flowpool-demo-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let executable = Self.executablePath()
        let children = StartedChildren()
        var outcome: Outcome
        do {
            outcome = try await ProcessSupervisor.withSupervisor(
                executable: executable,
                grace: Self.grace,
                logger: logger
            ) { supervisor in
                try await withThrowingTaskGroup(of: Outcome?.self) { group in
                    group.addTask {
                        try await drive(supervisor, dataDirectory: dataDirectory) { children.append($0) }
                        return .success
                    }
                    group.addTask {
                        for await signal in signals {
                            printFlushed("\n\(signal): stopping the pool (SIGTERM, SIGKILL after \(Self.grace))")
                            // With the web view, the demo waits for Ctrl-C once every answer is in.
                            if answered.isSet { return .success }
                            return .interrupted("\(signal)", signal.rawValue)
                        }
                        return nil
                    }
                    defer { group.cancelAll() }
                    while let next = try await group.next() {
                        if let next { return next }
                    }
                    return .success
                }
            }
        } catch let error as DemoError {
            outcome = .failure(error.description)
        } catch {
            outcome = .failure("\(error)")
        }
        let stopped = children.all
        if !stopped.isEmpty {
            printFlushed(printer.bold("pool stopped"))
        }
        var unclean: [String] = []
        for child in stopped.reversed() {
            let exit = child.exit.map(\.description) ?? "still running"
            printFlushed(
                "  \(child.name.padding(toLength: 12, withPad: " ", startingAt: 0)) pid \(child.pid ?? 0)  \(exit)"
            )
            if child.exit?.isSuccess != true {
                unclean.append("\(child.name) (\(exit))")
                if case .success = outcome {
                    let tail = child.stderrTail.suffix(8).joined(separator: "\n    ")
                    if !tail.isEmpty { printError("  \(child.name) stderr:\n    \(tail)") }
                }
            }
        }
        if case .success = outcome, !unclean.isEmpty {
            outcome = .failure("the pool did not stop cleanly: \(unclean.joined(separator: ", "))")
        }
        return outcome
    }

    /// Starts the pool, runs the questions and prints everything; returns once the pool can be stopped.
    private func drive(
        _ supervisor: ProcessSupervisor,
        dataDirectory: String,
        started: @Sendable (ProcessSupervisor.Child) -> Void
    ) async throws {
        let clock = ContinuousClock()
        let begin = clock.now
        let keys = curve ? try LocalKeySet(directory: dataDirectory + "/keys") : nil
        printFlushed(
            printer.bold("flowpool demo")
                + ": a coordinator and \(workers) worker\(workers == 1 ? "" : "s") on 127.0.0.1, "
                + "\(questions.count) questions (pid \(getpid()))"
        )
        let coordinator = try await supervisor.start(
            "coordinator",
            arguments: [
                "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                "--events-in-port", "0", "--events-out-port", "0", "--drain-timeout", "2",
                "--data-dir", dataDirectory, "--log-level", logLevel,
            ] + (keys?.coordinatorArguments ?? []),
            environment: MetricsOptions.notInherited
        )
        started(coordinator)
        let control = try await controlEndpoint(of: coordinator)
        printFlushed("  coordinator  pid \(coordinator.pid ?? 0)  \(control)")
        for i in 1...workers {
            let worker = try await supervisor.start(
                "worker-\(i)",
                arguments: [
                    "worker", "--coordinator", control, "--worker-id", "demo-worker-\(i)",
                    "--heartbeat-ms", "100", "--log-level", logLevel,
                ] + (keys?.workerArguments ?? []),
                environment: MetricsOptions.notInherited.merging([
                    AgentRegistration.tokenDelayVariable: String(tokenDelayMs)
                ]) { $1 }
            )
            started(worker)
            printFlushed("  worker-\(i)     pid \(worker.pid ?? 0)")
        }
        if let keys { printFlushed("  keys         CURVE on every socket, key set in \(keys.directory)") }
        var webAddress: String?
        if let webPort {
            let address = try await startWebView(
                supervisor,
                control: control,
                port: webPort,
                keys: keys,
                started: started
            )
            printFlushed("  web          \(address)  (live: \(address)ns/sales_agent, \(address)ns/stock_agent)")
            webAddress = address
        }
        let web = webAddress
        try await PoolClient.withConnection(to: control, timeout: .seconds(10), keys: keys?.client, logger: logger) {
            client in
            // A child that exits before the end fails the demo at once rather than at a timeout.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let alive = try await waitForWorkers(client, supervisor: supervisor)
                    printFlushed("pool ready: \(alive) workers alive after \(Self.seconds(clock.now - begin))")
                    try await exchange(client)
                    guard let web else { return }
                    answered.set()
                    printFlushed(
                        printer.bold("web view open at \(web)") + " (the pool keeps running; Ctrl-C stops both)"
                    )
                    // Until Ctrl-C (the signal ends the demo) or a child's exit (which fails it).
                    try await Task.sleep(for: .seconds(365 * 86_400))
                }
                group.addTask { try await Self.failOnExit(of: supervisor.all) }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        printFlushed("stopping the pool: SIGTERM, SIGKILL after \(Self.grace)")
    }

    /// Starts `flowpool web` against the pool and returns its address; when `port` is taken, on a free one.
    private func startWebView(
        _ supervisor: ProcessSupervisor,
        control: String,
        port: Int,
        keys: LocalKeySet?,
        started: @Sendable (ProcessSupervisor.Child) -> Void
    ) async throws -> String {
        let free = port == 0 || Self.portIsFree(port)
        if !free { printFlushed("  web          port \(port) is taken; using a free one") }
        let child = try await supervisor.start(
            "web",
            arguments: ["web", "--coordinator", control, "--port", String(free ? port : 0), "--log-level", logLevel]
                + (keys?.clientArguments ?? []),
            environment: MetricsOptions.notInherited
        )
        started(child)
        printFlushed("  web          pid \(child.pid ?? 0)")
        return try await Self.withDeadline(Self.coordinatorReadyTimeout, "the web view's address") {
            for await line in child.lines where line.hasPrefix("web view at ") {
                return String(line.dropFirst("web view at ".count))
            }
            let exit = await child.exited()
            throw DemoError(.poolFailed, "the web view did not start (\(exit))", details: child.stderrTail)
        }
    }

    /// Whether nothing listens on 127.0.0.1:`port` (a bind there succeeds).
    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    /// Throws ``DemoError`` `.poolFailed` when one of `children` exits; returns when cancelled.
    private static func failOnExit(of children: [ProcessSupervisor.Child]) async throws {
        let first = await withTaskGroup(of: (ProcessSupervisor.Child, ProcessSupervisor.Child.Exit)?.self) { group in
            for child in children {
                group.addTask { await child.exitedUnlessCancelled().map { (child, $0) } }
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        guard let (child, exit) = first else { return }
        throw DemoError(
            .poolFailed,
            "\(child.name) (pid \(child.pid ?? 0)) exited unexpectedly (\(exit))",
            details: child.stderrTail
        )
    }

    /// Reads the coordinator's control endpoint from its start-up lines.
    private func controlEndpoint(of coordinator: ProcessSupervisor.Child) async throws -> String {
        try await Self.withDeadline(Self.coordinatorReadyTimeout, "the coordinator's endpoints") {
            for await line in coordinator.lines {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count == 2, fields[0] == "control" { return String(fields[1]) }
            }
            let exit = await coordinator.exited()
            throw DemoError(
                .poolFailed,
                "the coordinator exited before it was ready (\(exit))",
                details: coordinator.stderrTail
            )
        }
    }

    /// Waits until the coordinator lists every worker as alive; returns how many are.
    private func waitForWorkers(_ client: PoolClient, supervisor: ProcessSupervisor) async throws -> Int {
        let wanted = workers
        return try await Self.withDeadline(Self.workersReadyTimeout, "\(wanted) workers to register") {
            while true {
                for child in supervisor.all where child.exit != nil {
                    throw DemoError(
                        .poolFailed,
                        "\(child.name) exited during start-up (\(child.exit?.description ?? "?"))",
                        details: child.stderrTail
                    )
                }
                let status = try await client.status()
                let alive = (status["workers"]?.arrayValue ?? []).filter { $0["draining"]?.boolValue != true }.count
                if alive >= wanted { return alive }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Subscribes, submits every question, prints the events live, then the answers.
    private func exchange(_ client: PoolClient) async throws {
        let namespaces = Array(Set(questions.map(\.agent))).sorted()
        var subscriptions: [(namespace: String, events: PoolEvents)] = []
        for namespace in namespaces {
            subscriptions.append((namespace, try await client.events(matching: namespace)))
        }
        let tracker = DemoRunTracker()
        let clock = ContinuousClock()
        let begin = clock.now
        let (submissions, results) = try await withThrowingTaskGroup(of: Void.self) { group in
            for subscription in subscriptions {
                group.addTask { await consume(subscription.events, namespace: subscription.namespace, tracker) }
            }
            defer { for subscription in subscriptions { subscription.events.close() } }
            let submissions = try await submitAll(client)
            tracker.expect(submissions.map { "\($0.namespace)/\($0.runId)" })
            let results = try await Self.withDeadline(runTimeout, "the runs' results") {
                try await withThrowingTaskGroup(of: (Int, RunResult).self) { group in
                    for (index, submission) in submissions.enumerated() {
                        group.addTask { (index, try await client.result(of: submission)) }
                    }
                    var results = [RunResult?](repeating: nil, count: submissions.count)
                    for try await (index, result) in group { results[index] = result }
                    return results.compactMap { $0 }
                }
            }
            try await Self.withDeadline(.seconds(10), "the runs' terminal events") { await tracker.allTerminal() }
            return (submissions, results)
        }
        let elapsed = clock.now - begin

        printFlushed("")
        printFlushed(printer.bold("answers"))
        var failed: [String] = []
        for (question, (submission, result)) in zip(questions, zip(submissions, results)) {
            printFlushed(
                "\(printer.label(namespace: submission.namespace, runId: submission.runId)) Q: \(question.text)"
            )
            if result.status == .completed {
                printFlushed("  A: \(result.result.stringValue ?? result.result.wireText)")
            } else {
                let why = "\(result.errorCode.map { "\($0)" } ?? "failed"): \(result.errorMessage ?? "")"
                printFlushed("  failed after \(result.attempts) attempt(s): \(why)")
                failed.append("\(submission.namespace)/\(submission.runId)")
            }
        }
        printFlushed("")
        let counts = tracker.eventCounts
        let perNamespace = namespaces.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", ")
        let lost = subscriptions.reduce(0) { $0 + $1.events.statistics.lost }
        printFlushed(
            "\(results.count - failed.count) of \(results.count) runs completed in \(Self.seconds(elapsed)); "
                + "\(counts.values.reduce(0, +)) events (\(perNamespace)), \(lost) lost"
        )
        let foreign = tracker.foreign
        if !foreign.isEmpty {
            throw DemoError(.mixedNamespaces, "events reached the wrong subscription: \(foreign.prefix(5))")
        }
        if !failed.isEmpty {
            throw DemoError(
                .runFailed,
                "\(failed.count) of \(results.count) runs failed: \(failed.joined(separator: ", "))"
            )
        }
    }

    /// Submits every question at once; returns the submissions in question order.
    private func submitAll(_ client: PoolClient) async throws -> [PoolClient.Submission] {
        try await withThrowingTaskGroup(of: (Int, PoolClient.Submission).self) { group in
            for (index, question) in questions.enumerated() {
                group.addTask {
                    let submission = try await client.submit(
                        question.agent,
                        namespace: question.agent,
                        input: ["question": .string(question.text)]
                    )
                    return (index, submission)
                }
            }
            var submissions = [PoolClient.Submission?](repeating: nil, count: questions.count)
            for try await (index, submission) in group {
                submissions[index] = submission
                let label = printer.label(namespace: submission.namespace, runId: submission.runId)
                printFlushed("\(label) submitted: \(questions[index].text)")
            }
            return submissions.compactMap { $0 }
        }
    }

    /// Prints a subscription's events until it is closed.
    private func consume(_ events: PoolEvents, namespace: String, _ tracker: DemoRunTracker) async {
        await withTaskCancellationHandler {
            for await event in events {
                tracker.record(event, subscribedTo: namespace)
                printer.print(event)
            }
        } onCancel: {
            events.close()
        }
    }

    // MARK: Helpers

    /// The running executable's absolute path.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let argument0 = CommandLine.arguments.first ?? "flowpool"
        if argument0.hasPrefix("/") { return argument0 }
        return FileManager.default.currentDirectoryPath + "/" + argument0
    }

    /// `1.23 s`.
    static func seconds(_ duration: Duration) -> String {
        let (s, attoseconds) = duration.components
        return String(format: "%.2f s", Double(s) + Double(attoseconds) / 1e18)
    }

    /// Runs `body`; throws ``DemoError`` `.timeout` naming `what` when it takes longer than `limit`.
    static func withDeadline<T: Sendable>(
        _ limit: Duration,
        _ what: String,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw DemoError(.timeout, "gave up waiting for \(what) after \(limit)")
            }
            return value
        }
    }
}

/// The children a demo started, in start order.
private final class StartedChildren: Sendable {
    private let children = Mutex<[ProcessSupervisor.Child]>([])

    var all: [ProcessSupervisor.Child] { children.withLock { $0 } }

    func append(_ child: ProcessSupervisor.Child) { children.withLock { $0.append(child) } }
}

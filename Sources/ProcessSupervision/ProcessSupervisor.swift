import Foundation
import Logging
import Subprocess
import Synchronization
import SystemPackage

/// Runs child processes for the length of a scope and stops every one of them before the scope returns.
///
/// Each child runs through swift-subprocess's scoped `run`, its standard output and standard error drained
/// concurrently. A child is stopped with SIGTERM and, if it has not exited after the grace period, SIGKILL;
/// the same sequence runs when the scope is cancelled. Children are stopped in the reverse order of their
/// start, so processes that depend on earlier ones (workers on a coordinator) go first.
///
/// ```swift
/// try await ProcessSupervisor.withSupervisor(executable: "/usr/bin/sleep", logger: logger) { supervisor in
///     let child = try await supervisor.start("sleeper", arguments: ["60"])
///     print(child.pid)
/// }   // the sleeper is stopped and reaped here
/// ```
package final class ProcessSupervisor: Sendable {
    /// The program every child runs.
    package let executable: String
    /// How long a child may take to exit after SIGTERM before it gets SIGKILL.
    package let grace: Duration
    private let logger: Logger
    private let requests: AsyncStream<StartRequest>.Continuation
    private let children = Mutex<[Child]>([])

    private struct StartRequest: Sendable {
        var child: Child
        var environment: [String: String?]
    }

    private init(
        executable: String,
        grace: Duration,
        logger: Logger,
        requests: AsyncStream<StartRequest>.Continuation
    ) {
        self.executable = executable
        self.grace = grace
        self.logger = logger
        self.requests = requests
    }

    /// Runs `body` with a supervisor; when `body` returns or throws, stops every child still running and
    /// waits until each one has exited.
    ///
    /// Every child gets ``ParentDeathSignal/variable`` in its environment, set to this process's id, so that a
    /// child which calls ``ParentDeathSignal/armFromEnvironment(signal:)`` at start-up is stopped when this
    /// process dies without running its teardown (SIGKILL, a crash).
    ///
    /// - Parameters:
    ///   - executable: The absolute path of the program the children run.
    ///   - grace: How long a child may take to exit after SIGTERM before it gets SIGKILL.
    ///   - logger: Receives a line per child start and exit.
    ///   - isolation: The actor `body` runs on, the caller's by default.
    ///   - body: Starts children with ``start(_:arguments:environment:)`` and works with them.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw, after the children are stopped.
    package static func withSupervisor<Result>(
        executable: String,
        grace: Duration = .seconds(5),
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessSupervisor) async throws -> Result
    ) async throws -> Result {
        // Unbounded but small: each `start` waits for its child, so at most one request per caller is pending.
        let (stream, continuation) = AsyncStream<StartRequest>.makeStream(bufferingPolicy: .unbounded)
        let supervisor = ProcessSupervisor(
            executable: executable,
            grace: grace,
            logger: logger,
            requests: continuation
        )
        let outcome = await withTaskGroup(of: Void.self) { group -> Swift.Result<Result, any Error> in
            // Start requests become child tasks of this group until `body` ends.
            group.addTask {
                await withTaskGroup(of: Void.self) { children in
                    for await request in stream {
                        children.addTask { await supervisor.execute(request) }
                    }
                }
            }
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(supervisor))
            } catch {
                outcome = .failure(error)
            }
            continuation.finish()
            await supervisor.stopAll()
            await group.waitForAll()
            return outcome
        }
        return try outcome.get()
    }

    /// Starts a child and returns once it runs (its pid is known).
    ///
    /// - Parameters:
    ///   - name: The child's name in messages, such as `worker-1`.
    ///   - arguments: Its arguments.
    ///   - environment: Changes to this process's environment for the child: a variable set to a value, or
    ///     removed with nil.
    /// - Throws: ``ProcessSupervisorError`` with code `.spawnFailed` when the program cannot be started.
    package func start(
        _ name: String,
        arguments: [String],
        environment: [String: String?] = [:]
    ) async throws -> Child {
        let child = Child(name: name, arguments: arguments)
        children.withLock { $0.append(child) }
        if case .terminated = requests.yield(StartRequest(child: child, environment: environment)) {
            child.markFailed(
                ProcessSupervisorError(.spawnFailed, "\(name) not started: the supervisor's scope has ended")
            )
        }
        return try await child.started()
    }

    /// The children started so far, in start order.
    package var all: [Child] { children.withLock { $0 } }

    /// Stops one child: SIGTERM, then SIGKILL after the grace period; returns once it has exited.
    @discardableResult
    package func stop(_ child: Child) async -> Child.Exit {
        child.requestStop(.graceful)
        return await child.exited()
    }

    /// Kills one child with SIGKILL at once (it can finish nothing); returns once it has exited.
    @discardableResult
    package func kill(_ child: Child) async -> Child.Exit {
        child.requestStop(.kill)
        return await child.exited()
    }

    /// Stops every child still running, in the reverse order of their start, and waits for each.
    package func stopAll() async {
        for child in all.reversed() {
            await stop(child)
        }
    }

    private func execute(_ request: StartRequest) async {
        let child = request.child
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: grace)]
        var overrides: [Subprocess.Environment.Key: String?] = [:]
        for (key, value) in request.environment { overrides[Subprocess.Environment.Key(stringLiteral: key)] = value }
        overrides[Subprocess.Environment.Key(stringLiteral: ParentDeathSignal.variable)] = String(getpid())
        let grace = self.grace
        do {
            let result = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: Arguments(child.arguments),
                environment: .inherit.updating(overrides),
                platformOptions: options,
                input: .none,
                output: .sequence,
                error: .sequence
            ) { execution in
                child.markStarted(pid: execution.processIdentifier.value)
                self.logger.debug("started", metadata: ["child": "\(child.name)", "pid": "\(child.pid ?? 0)"])
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        do {
                            for try await line in execution.standardOutput.strings() { child.record(line, from: .out) }
                        } catch {
                            child.record("(standard output failed: \(error))", from: .err)
                        }
                        return true
                    }
                    group.addTask {
                        do {
                            for try await line in execution.standardError.strings() { child.record(line, from: .err) }
                        } catch {
                            child.record("(standard error failed: \(error))", from: .err)
                        }
                        return true
                    }
                    // A stop request tears the process down; both streams end once it has exited.
                    group.addTask {
                        switch await child.stopRequested() {
                        case .graceful?:
                            await execution.teardown(using: [.gracefulShutDown(allowedDurationToNextStep: grace)])
                        case .kill?:
                            // The teardown sequence always ends in SIGKILL; with no step before it, that is all.
                            await execution.teardown(using: [])
                        case nil:
                            break
                        }
                        return false
                    }
                    var drained = 0
                    while let isStream = await group.next() {
                        guard isStream else { continue }
                        drained += 1
                        if drained == 2 {
                            child.finishOutput()
                            // Closed pipes usually mean an exit, but a child may close them and run on: the
                            // stop task stays until it has exited.
                            await Self.waitUntilExited(execution.processIdentifier.value)
                            group.cancelAll()
                        }
                    }
                }
            }
            child.markExited(Child.Exit(result.terminationStatus))
        } catch {
            child.markFailed(
                ProcessSupervisorError(
                    .spawnFailed,
                    "could not start \(child.name) (\(executable) \(child.arguments.joined(separator: " ")))",
                    cause: error
                )
            )
        }
        logger.debug("exited", metadata: ["child": "\(child.name)", "exit": "\(child.exit?.description ?? "?")"])
    }

    /// Returns once process `pid`, a child of this process not yet reaped, has exited (or the task is cancelled).
    private static func waitUntilExited(_ pid: Int32) async {
        while !Task.isCancelled && !hasExited(pid) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Whether child `pid` has exited; it is left for swift-subprocess to reap (`WNOWAIT`).
    private static func hasExited(_ pid: Int32) -> Bool {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 {
            // ECHILD: reaped already.
            guard errno == EINTR else { return true }
        }
        // si_signo is SIGCHLD only when an exit was reported; otherwise the zeroed siginfo is left as it was.
        return info.si_signo == SIGCHLD
    }
}

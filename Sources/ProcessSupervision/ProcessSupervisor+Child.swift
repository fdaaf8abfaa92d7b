import Subprocess
import Synchronization

extension ProcessSupervisor {
    /// One child process: its pid, its output lines and how it ended.
    ///
    /// Standard output is offered as ``lines`` (bounded; what overflows is dropped and counted) and, like
    /// standard error, kept as a bounded tail for error messages.
    package final class Child: Sendable {
        /// How a child ended.
        package enum Exit: Sendable, CustomStringConvertible {
            /// It exited with this status.
            case exited(Int32)
            /// A signal ended it.
            case signaled(Int32)
            /// It never started.
            case failed(ProcessSupervisorError)

            init(_ status: TerminationStatus) {
                switch status {
                case .exited(let code): self = .exited(code)
                case .signaled(let signal): self = .signaled(signal)
                }
            }

            /// Whether it exited with status 0.
            package var isSuccess: Bool {
                if case .exited(0) = self { return true }
                return false
            }

            package var description: String {
                switch self {
                case .exited(let code): "exit \(code)"
                case .signaled(let signal): "killed by signal \(signal)"
                case .failed(let error): "not started: \(error)"
                }
            }
        }

        /// Which stream a line came from.
        enum Stream: Sendable { case out, err }

        /// How a child is to be stopped.
        enum StopMode: Sendable {
            /// SIGTERM, then SIGKILL after the supervisor's grace period.
            case graceful
            /// SIGKILL at once.
            case kill
        }

        /// Lines kept per stream for error messages.
        package static let tailLimit = 40
        /// Standard output lines buffered in ``lines`` before new ones are dropped.
        package static let lineBufferLimit = 1000

        /// The name used in messages.
        package let name: String
        /// The arguments it was started with.
        package let arguments: [String]
        /// Its standard output, line by line, until both its output streams have ended.
        package let lines: AsyncStream<String>
        private let linesContinuation: AsyncStream<String>.Continuation
        private let state = Mutex(State())

        private struct State {
            var pid: Int32?
            var exit: Exit?
            var startWaiters: [CheckedContinuation<Void, any Error>] = []
            var exitWaiters: [UInt64: CheckedContinuation<Exit?, Never>] = [:]
            var nextWaiter: UInt64 = 0
            var cancelledWaiters: Set<UInt64> = []
            var stopRequested: StopMode?
            var stopWaiter: CheckedContinuation<StopMode?, Never>?
            var stdoutTail = RingOfLines(limit: Child.tailLimit)
            var stderrTail = RingOfLines(limit: Child.tailLimit)
            var droppedLines = 0
        }

        init(name: String, arguments: [String]) {
            self.name = name
            self.arguments = arguments
            (lines, linesContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.lineBufferLimit))
        }

        /// Its process id, once started.
        package var pid: Int32? { state.withLock { $0.pid } }

        /// How it ended, once it has.
        package var exit: Exit? { state.withLock { $0.exit } }

        /// Whether it has started and not yet been reaped.
        package var isRunning: Bool { state.withLock { $0.pid != nil && $0.exit == nil } }

        /// The last lines of its standard error.
        package var stderrTail: [String] { state.withLock { $0.stderrTail.lines } }

        /// The last lines of its standard output.
        package var stdoutTail: [String] { state.withLock { $0.stdoutTail.lines } }

        /// Standard output lines dropped because nobody read ``lines``.
        package var droppedLines: Int { state.withLock { $0.droppedLines } }

        /// Waits until the process exits.
        package func exited() async -> Exit {
            await withCheckedContinuation { (c: CheckedContinuation<Exit?, Never>) in
                let exit: Exit? = state.withLock { state in
                    if let exit = state.exit { return exit }
                    state.nextWaiter += 1
                    state.exitWaiters[state.nextWaiter] = c
                    return nil
                }
                if let exit { c.resume(returning: exit) }
            } ?? .failed(ProcessSupervisorError(.spawnFailed, "\(name): no exit status"))
        }

        /// Waits until the process exits; nil when the waiting task is cancelled first.
        package func exitedUnlessCancelled() async -> Exit? {
            let key = state.withLock { state in
                state.nextWaiter += 1
                return state.nextWaiter
            }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Exit?, Never>) in
                    let immediate: Exit?? = state.withLock { state in
                        if let exit = state.exit { return .some(exit) }
                        if state.cancelledWaiters.remove(key) != nil { return .some(nil) }
                        state.exitWaiters[key] = c
                        return nil
                    }
                    if let immediate { c.resume(returning: immediate) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Exit?, Never>? in
                    if let waiter = state.exitWaiters.removeValue(forKey: key) { return waiter }
                    if state.exit == nil { state.cancelledWaiters.insert(key) }
                    return nil
                }
                waiter?.resume(returning: nil)
            }
        }

        /// Waits until the process runs; returns self.
        package func started() async throws -> Child {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let ready: Swift.Result<Void, any Error>? = state.withLock { state in
                    if case .failed(let error)? = state.exit { return .failure(error) }
                    if state.pid != nil || state.exit != nil { return .success(()) }
                    state.startWaiters.append(c)
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
            return self
        }

        // MARK: Called by the supervisor

        func markStarted(pid: Int32) {
            let waiters = state.withLock { state in
                state.pid = pid
                defer { state.startWaiters = [] }
                return state.startWaiters
            }
            for w in waiters { w.resume() }
        }

        func markExited(_ exit: Exit) {
            linesContinuation.finish()
            let (starters, waiters, stopper) = state.withLock { state in
                state.exit = exit
                defer {
                    state.startWaiters = []
                    state.exitWaiters = [:]
                    state.stopWaiter = nil
                }
                return (state.startWaiters, state.exitWaiters, state.stopWaiter)
            }
            for w in starters { w.resume() }
            for w in waiters.values { w.resume(returning: exit) }
            stopper?.resume(returning: nil)
        }

        func markFailed(_ error: ProcessSupervisorError) {
            linesContinuation.finish()
            let (starters, waiters, stopper) = state.withLock { state in
                state.exit = .failed(error)
                defer {
                    state.startWaiters = []
                    state.exitWaiters = [:]
                    state.stopWaiter = nil
                }
                return (state.startWaiters, state.exitWaiters, state.stopWaiter)
            }
            for w in starters { w.resume(throwing: error) }
            for w in waiters.values { w.resume(returning: .failed(error)) }
            stopper?.resume(returning: nil)
        }

        func record(_ line: String, from stream: Stream) {
            switch stream {
            case .out:
                let dropped: Bool
                if case .dropped = linesContinuation.yield(line) { dropped = true } else { dropped = false }
                state.withLock { state in
                    state.stdoutTail.append(line)
                    if dropped { state.droppedLines += 1 }
                }
            case .err:
                state.withLock { $0.stderrTail.append(line) }
            }
        }

        func finishOutput() { linesContinuation.finish() }

        /// Asks the supervisor's task for this child to tear the process down; a kill overrides a graceful stop.
        func requestStop(_ mode: StopMode) {
            let waiter = state.withLock { state in
                guard state.exit == nil else { return CheckedContinuation<StopMode?, Never>?.none }
                if state.stopRequested != .kill { state.stopRequested = mode }
                defer { state.stopWaiter = nil }
                return state.stopWaiter
            }
            waiter?.resume(returning: mode)
        }

        /// Waits for ``requestStop(_:)``: how to stop, or nil when the process exited or the wait was cancelled.
        func stopRequested() async -> StopMode? {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<StopMode?, Never>) in
                    let answer: StopMode?? = state.withLock { state in
                        if let mode = state.stopRequested { return .some(mode) }
                        if state.exit != nil || Task.isCancelled { return .some(nil) }
                        state.stopWaiter = c
                        return nil
                    }
                    if let answer { c.resume(returning: answer) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    defer { state.stopWaiter = nil }
                    return state.stopWaiter
                }
                waiter?.resume(returning: nil)
            }
        }
    }

    /// The last `limit` lines of a stream.
    struct RingOfLines: Sendable {
        let limit: Int
        private var storage: [String] = []
        private var next = 0

        init(limit: Int) { self.limit = limit }

        mutating func append(_ line: String) {
            if storage.count < limit {
                storage.append(line)
            } else {
                storage[next] = line
            }
            next = (next + 1) % limit
        }

        var lines: [String] {
            storage.count < limit ? storage : Array(storage[next...] + storage[..<next])
        }
    }
}

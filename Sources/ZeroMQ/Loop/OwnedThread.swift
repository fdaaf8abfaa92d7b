import Foundation
import Synchronization

#if os(Linux)
import CZeroMQ
#endif

/// A dedicated OS thread (not part of Swift's cooperative pool) whose end can be awaited.
public final class OwnedThread: Sendable {
    private final class Completion: Sendable {
        let state = Mutex<(finished: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func finish() {
            let waiters = state.withLock { state in
                state.finished = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private let completion = Completion()

    /// Starts `body` on a new thread named `name` (at most 15 characters are kept on Linux).
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [completion] in
            #if os(Linux)
            // Foundation keeps the name to itself on Linux; top -H, perf and /proc show the kernel's.
            flowpool_set_thread_name(name)
            #endif
            body()
            completion.finish()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Whether the thread's body has returned.
    public var isFinished: Bool { completion.state.withLock { $0.finished } }

    /// Suspends (without blocking a thread) until the body has returned.
    public func join() async {
        await withCheckedContinuation { continuation in
            let finished = completion.state.withLock { state in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }
}

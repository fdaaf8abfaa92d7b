import Synchronization

/// A bounded queue of encoded events between running flows (any task) and the publisher task.
///
/// ``push(_:)`` never blocks or suspends, as an ``EventSink`` requires; what does not fit is dropped and
/// counted. The worker keeps the queue far from full by granting no new jobs while ``count`` is above its
/// backlog limit, so drops happen only if in-flight runs alone overflow it.
final class EventOutbox: Sendable {
    private struct State {
        var items: [[[UInt8]]] = []
        var waiter: CheckedContinuation<[[[UInt8]]]?, Never>?
        var finished = false
    }

    let capacity: Int
    private let state = Mutex(State())
    private let queued = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let pushedCount = Atomic<Int>(0)

    init(capacity: Int) { self.capacity = capacity }

    /// Events waiting to be handed to the socket (including the batch being sent).
    var count: Int { queued.load(ordering: .relaxed) }
    /// Events dropped because the queue was full.
    var dropped: Int { droppedCount.load(ordering: .relaxed) }
    /// Events accepted.
    var pushed: Int { pushedCount.load(ordering: .relaxed) }

    /// Queues one event's frames; false (and counted) when full.
    @discardableResult
    func push(_ frames: [[UInt8]]) -> Bool {
        guard queued.load(ordering: .relaxed) < capacity else {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        queued.add(1, ordering: .relaxed)
        pushedCount.add(1, ordering: .relaxed)
        let waiter: CheckedContinuation<[[[UInt8]]]?, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(frames)
            return nil
        }
        waiter?.resume(returning: [frames])
        return true
    }

    /// Takes everything queued, waiting while empty; nil once finished and empty.
    func takeBatch() async -> [[[UInt8]]]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[[[UInt8]]]?, Never>) in
            let ready: [[[UInt8]]]?? = state.withLock { state in
                if !state.items.isEmpty {
                    defer { state.items = [] }
                    return .some(state.items)
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Marks `n` taken events as handed to the socket.
    func markSent(_ n: Int) { queued.subtract(n, ordering: .relaxed) }

    /// Ends ``takeBatch()`` once the queue is empty.
    func finish() {
        let waiter: CheckedContinuation<[[[UInt8]]]?, Never>? = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.items.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }
}

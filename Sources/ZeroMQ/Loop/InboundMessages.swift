import Synchronization

/// The messages a ``SocketLoop`` receives on one socket, as an asynchronous sequence.
///
/// Each element is one whole multipart message (its frames in order). The loop thread hands messages
/// over in batches, one resumption per batch, and the iterator yields them one by one; use
/// ``AsyncIterator/nextBatch()`` to take a whole batch at once. The sequence ends when the socket is
/// removed from the loop or the loop stops.
///
/// Buffering is bounded by the ``SocketLoop/InboundPolicy`` given when the socket was added: with
/// `backpressure` the loop stops reading the socket while the buffer is full, so libzmq's receive
/// high-water mark and then the sender's send high-water mark apply; with `dropNewest` the loop keeps
/// reading and drops (and counts) what does not fit.
///
/// Single consumer: iterate from one task at a time.
public struct InboundMessages: AsyncSequence, Sendable {
    public typealias Element = [[UInt8]]
    public typealias Failure = Never

    let buffer: InboundBuffer

    /// Messages dropped because the buffer was full (only with `dropNewest`).
    public var droppedCount: Int { buffer.dropped.load(ordering: .relaxed) }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }

    /// Iterates over ``InboundMessages``.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: InboundBuffer
        private var batch: [[[UInt8]]] = []
        private var index = 0

        init(buffer: InboundBuffer) { self.buffer = buffer }

        /// The next message, or `nil` when the socket was removed, the loop stopped, or the task was
        /// cancelled.
        public mutating func next() async -> [[UInt8]]? {
            if index == batch.count {
                guard let next = await buffer.takeBatch() else { return nil }
                batch = next
                index = 0
            }
            defer { index += 1 }
            return batch[index]
        }

        /// All messages available now (at least one), or `nil` at the end of the sequence.
        public mutating func nextBatch() async -> [[[UInt8]]]? {
            if index < batch.count {
                defer {
                    batch = []
                    index = 0
                }
                return Array(batch[index...])
            }
            return await buffer.takeBatch()
        }
    }
}

/// The bounded hand-over buffer between a loop thread (producer) and one async consumer.
final class InboundBuffer: Sendable {
    struct State {
        var messages: [[[UInt8]]] = []
        var waiter: CheckedContinuation<[[[UInt8]]]?, Never>?
        var finished = false
        /// The loop stopped reading because the buffer was full; the consumer must wake it.
        var paused = false
    }

    let capacity: Int
    let dropsWhenFull: Bool
    let state = Mutex(State())
    let dropped = Atomic<Int>(0)
    /// Wakes the loop when the consumer frees room in a paused buffer.
    private let wake: WakeSignal

    init(capacity: Int, dropsWhenFull: Bool, wake: WakeSignal) {
        self.capacity = max(1, capacity)
        self.dropsWhenFull = dropsWhenFull
        self.wake = wake
    }

    /// Consumer side: takes everything buffered, waiting if there is nothing yet.
    func takeBatch() async -> [[[UInt8]]]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[[[UInt8]]]?, Never>) in
                enum Action {
                    case resume([[[UInt8]]]?, wakeLoop: Bool)
                    case wait
                }
                let action: Action = state.withLock { state in
                    if !state.messages.isEmpty {
                        let batch = state.messages
                        state.messages = []
                        let wasPaused = state.paused
                        state.paused = false
                        return .resume(batch, wakeLoop: wasPaused)
                    }
                    if state.finished || Task.isCancelled { return .resume(nil, wakeLoop: false) }
                    precondition(state.waiter == nil, "InboundMessages supports a single consumer at a time")
                    state.waiter = continuation
                    return .wait
                }
                if case .resume(let batch, let wakeLoop) = action {
                    if wakeLoop { wake.wake() }
                    continuation.resume(returning: batch)
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Loop side: the room left, or 0 after marking the buffer paused (the consumer will wake the loop).
    func roomOrPause() -> Int {
        state.withLock { state in
            let room = capacity - state.messages.count
            if room <= 0 { state.paused = true }
            return max(0, room)
        }
    }

    /// Loop side: whether the consumer has unpaused the buffer.
    var isPaused: Bool { state.withLock { $0.paused } }

    /// Loop side: hands over a batch; returns the room left afterwards.
    func deliver(_ batch: consuming [[[UInt8]]]) -> Int {
        var batch = batch
        let (waiter, room, droppedNow): (CheckedContinuation<[[[UInt8]]]?, Never>?, Int, Int) = state.withLock {
            state in
            if state.finished { return (nil, 0, batch.count) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, capacity, 0)
            }
            var dropped = 0
            if dropsWhenFull {
                let room = capacity - state.messages.count
                if batch.count > room {
                    dropped = batch.count - max(0, room)
                    batch.removeLast(dropped)
                }
            }
            state.messages.append(contentsOf: batch)
            return (nil, max(0, capacity - state.messages.count), dropped)
        }
        if droppedNow > 0 { dropped.add(droppedNow, ordering: .relaxed) }
        waiter?.resume(returning: batch)
        return room
    }

    /// Loop side: ends the sequence after what is buffered has been taken.
    func finish() {
        let waiter: CheckedContinuation<[[[UInt8]]]?, Never>? = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}

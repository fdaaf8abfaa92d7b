import FlowCore
import Synchronization

/// A bounded queue of encoded events between running flows (any task) and the publisher task, kept as
/// ready-to-send event batches, and of the results of finished attempts, which the publisher sends after
/// the events queued before them (a result never overtakes its own events).
///
/// ``push(_:attempt:prefix:keepFrames:wake:scratch:)`` encodes an event in the wire packing of docs/PROTOCOL.md
/// ("Worker endpoint") into the caller's reusable buffer, outside the lock, and copies it into the batch being
/// filled under the lock, so running flows hardly wait for each other; a batch is closed at
/// ``EventBatch/maxEvents`` events or ``EventBatch/maxBytes`` bytes, and a new one starts with room for about as
/// much as recent ones held. It never blocks or suspends, as an ``EventSink`` requires; what does not fit —
/// beyond ``capacity`` events or ``maxBytes`` bytes — is dropped and counted (an event alone in the queue
/// always fits). The worker keeps the queue far from full by granting no new jobs while ``count`` or
/// ``bytes`` is above its backlog limit, so drops happen only if in-flight runs alone overflow it.
final class EventOutbox: Sendable {
    /// Packed events ready to send as one batch message.
    struct Batch {
        var body: [UInt8] = []
        var count = 0
    }

    /// A finished attempt's result, encoded as an element of a `results` message, with its terminal event.
    struct PendingResult {
        var element: [UInt8]
        var terminal: RawEvent
    }

    /// What the publisher takes in one go: event batches, then the results queued after those events.
    struct Taken {
        var batches: [Batch] = []
        var results: [PendingResult] = []

        var isEmpty: Bool { batches.isEmpty && results.isEmpty }
    }

    private struct State {
        var closed: [Batch] = []
        var open = Batch()
        var results: [PendingResult] = []
        var waiter: CheckedContinuation<Taken?, Never>?
        var finished = false
        /// About how many bytes recent batches grew to: the room a new batch starts with.
        var sizeHint = 4096

        var isEmpty: Bool { closed.isEmpty && open.count == 0 && results.isEmpty }

        /// Everything queued, the open batch included; leaves the queue empty.
        mutating func takeAll() -> Taken {
            var all = Taken(batches: closed, results: results)
            closed = []
            results = []
            if open.count > 0 {
                all.batches.append(open)
                startBatch()
            }
            return all
        }

        /// Replaces the open batch (already taken or closed) by an empty one with room for about as much as
        /// recent ones held, so filling it does not copy it over and over as it grows.
        mutating func startBatch() {
            sizeHint = max(open.body.count, sizeHint - sizeHint / 8, 1024)
            open = Batch()
            open.body.reserveCapacity(min(sizeHint + sizeHint / 4, EventBatch.maxBytes + 4096))
        }
    }

    let capacity: Int
    /// Most bytes of packed events waiting to be sent.
    let maxBytes: Int
    private let state = Mutex(State())
    private let queued = Atomic<Int>(0)
    private let queuedBytes = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let pushedCount = Atomic<Int>(0)
    /// Tasks waiting until every event taken has been handed to the socket.
    private let sentWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(capacity: Int, maxBytes: Int = .max) {
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    /// Events waiting to be handed to the socket (including the batches being sent).
    var count: Int { queued.load(ordering: .relaxed) }
    /// The packed bytes of those events (``Batch/body`` bytes).
    var bytes: Int { queuedBytes.load(ordering: .relaxed) }
    /// Events dropped because the queue was full.
    var dropped: Int { droppedCount.load(ordering: .relaxed) }
    /// Events accepted.
    var pushed: Int { pushedCount.load(ordering: .relaxed) }

    /// Encodes and queues one event; returns whether it was queued (drops are counted) and, with
    /// `keepFrames`, its two frames as well, queued or not (for the result message that carries the terminal
    /// event).
    ///
    /// - Parameters:
    ///   - prefix: The run's encoded prefix, for an event that ``WireEvent/RunPrefix/matches(_:)`` it.
    ///   - wake: Whether to wake a waiting publisher; false for an event that something is sure to follow soon
    ///     (a run's terminal event, followed by its result), so that both leave in one turn.
    ///   - scratch: A buffer the event is encoded into before the lock is taken; pass the same one for
    ///     every event of a run so that encoding allocates nothing.
    @discardableResult
    func push(
        _ event: StreamEvent,
        attempt: Int,
        prefix: WireEvent.RunPrefix? = nil,
        keepFrames: Bool = false,
        wake: Bool = true,
        scratch: inout [UInt8]
    ) -> (queued: Bool, frames: RawEvent?) {
        scratch.removeAll(keepingCapacity: true)
        let written = WireEvent.appendPacked(event, attempt: attempt, prefix: prefix, to: &scratch)
        let frames =
            keepFrames
            ? RawEvent(topic: Array(scratch[written.topic]), envelope: Array(scratch[written.envelope])) : nil
        guard admit(bytes: scratch.count) else { return (false, frames) }
        let waiter = state.withLock { state in
            state.open.body.append(contentsOf: scratch)
            return added(&state, wake: wake)
        }
        waiter?.resume()
        return (true, frames)
    }

    /// Encodes and queues one event, like ``push(_:attempt:prefix:keepFrames:wake:scratch:)`` with a buffer of
    /// its own.
    @discardableResult
    func push(_ event: StreamEvent, attempt: Int, keepFrames: Bool = false) -> (queued: Bool, frames: RawEvent?) {
        var scratch: [UInt8] = []
        return push(event, attempt: attempt, keepFrames: keepFrames, scratch: &scratch)
    }

    /// Queues one event given as its two frames; false (and counted) when full.
    @discardableResult
    func push(_ raw: RawEvent) -> Bool {
        guard admit(bytes: 8 + raw.topic.count + raw.envelope.count) else { return false }
        let wake = state.withLock { state in
            EventBatch.append(raw, to: &state.open.body)
            return added(&state)
        }
        wake?.resume()
        return true
    }

    /// Queues a finished attempt's result, to be sent after every event queued so far; never dropped (at
    /// most one per run in flight).
    func push(result: PendingResult) {
        let wake: Wake? = state.withLock { state in
            state.results.append(result)
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return Wake(waiter: waiter, taken: state.takeAll())
        }
        wake?.resume()
    }

    private func admit(bytes: Int) -> Bool {
        let queuedBytes = self.queuedBytes.load(ordering: .relaxed)
        guard queued.load(ordering: .relaxed) < capacity, queuedBytes == 0 || queuedBytes + bytes <= maxBytes else {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        self.queuedBytes.add(bytes, ordering: .relaxed)
        queued.add(1, ordering: .relaxed)
        pushedCount.add(1, ordering: .relaxed)
        return true
    }

    /// Counts the event just written into the open batch and closes the batch when full; when the publisher
    /// waits, hands it everything queued (to resume outside the lock).
    private func added(
        _ state: inout State,
        wake: Bool = true
    ) -> Wake? {
        state.open.count += 1
        if state.open.count >= EventBatch.maxEvents || state.open.body.count >= EventBatch.maxBytes {
            state.closed.append(state.open)
            state.startBatch()
        }
        guard wake, let waiter = state.waiter else { return nil }
        state.waiter = nil
        return Wake(waiter: waiter, taken: state.takeAll())
    }

    /// The publisher's waiting continuation and what to hand it, resumed once the lock is released. A
    /// concrete type (an optional tuple holding a generic one took the runtime's generic value witnesses on
    /// every event).
    private struct Wake {
        let waiter: CheckedContinuation<Taken?, Never>
        let taken: Taken

        func resume() { waiter.resume(returning: taken) }
    }

    /// Takes everything queued, waiting while empty; nil once finished and empty.
    func take() async -> Taken? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Taken?, Never>) in
            let ready: Taken?? = state.withLock { state in
                let all = state.takeAll()
                if !all.isEmpty { return .some(all) }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Marks `n` taken events, of `bytes` packed bytes, as handed to the socket.
    func markSent(_ n: Int, bytes: Int) {
        queuedBytes.subtract(bytes, ordering: .relaxed)
        guard queued.subtract(n, ordering: .relaxed).newValue == 0 else { return }
        let waiters = sentWaiters.withLock { waiters in
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Tasks in ``waitUntilSent()``.
    var waitingUntilSent: Int { sentWaiters.withLock { $0.count } }

    /// Returns once no event is queued or waiting to be handed to the socket (``count`` is 0).
    func waitUntilSent() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = sentWaiters.withLock { waiters in
                if queued.load(ordering: .relaxed) == 0 { return true }
                waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Ends ``take()`` once the queue is empty.
    func finish() {
        let waiter: CheckedContinuation<Taken?, Never>? = state.withLock { state in
            state.finished = true
            let empty = state.isEmpty
            defer { if empty { state.waiter = nil } }
            return empty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }
}

import Synchronization

/// The bounded buffer between emitting runs and one subscriber.
///
/// Producers append under a short lock, a run's staged events in one batch (see ``RunState``); the consumer
/// swaps the whole pending array out in one step and is woken at most once per batch, never once per event.
/// Runs that may hold staged events are registered here as producers; a consumer has them flush
/// (``collectStaged()``) before it sleeps.
///
/// When the buffer holds `capacity` events, a new event evicts the oldest non-terminal one, so a terminal
/// event is lost only when the buffer holds nothing but terminal events (the subscriber is `capacity` whole
/// runs behind); then the oldest terminal goes and `droppedTerminal` counts it.
final class SubscriptionBuffer: Sendable {
    let pattern: SubscriptionPattern
    let capacity: Int
    private let state: Mutex<State>
    /// Set while the consumer prepares to wait or waits: runs then flush every event at once.
    private let waiting = Atomic<Bool>(false)
    /// When the consumer last collected staged events (``EventTimestamp/monotonicNanoseconds()``).
    private let lastCollection = Atomic<UInt64>(0)
    private let onCancel: @Sendable (SubscriptionBuffer) -> Void

    struct State {
        /// Pending events start at `head`; the slots before it were evicted and await compaction.
        var events: [StreamEvent?] = []
        var head = 0
        var waiter: UnsafeContinuation<Void, Never>?
        var finished = false
        var dropped = 0
        var droppedTerminal = 0
        var received: UInt64 = 0
        /// Runs registered as producers: they may hold staged events for this buffer.
        var producers: [ObjectIdentifier: RunState] = [:]
    }

    /// What a batch does to the registration of the run that appends it.
    enum Registration {
        /// Register the run as a producer.
        case register
        /// Leave the registration as it is.
        case keep
        /// Unregister the run: it will stage nothing more.
        case unregister
    }

    enum Take {
        /// Events are in the batch, starting at the index.
        case events(start: Int)
        /// Nothing pending yet.
        case empty
        /// The subscription ended and everything was taken.
        case finished
    }

    init(pattern: SubscriptionPattern, capacity: Int, onCancel: @escaping @Sendable (SubscriptionBuffer) -> Void) {
        self.pattern = pattern
        self.capacity = max(1, capacity)
        self.state = Mutex(State())
        self.onCancel = onCancel
    }

    /// Appends an event, evicting per the policy above when full, and wakes a waiting consumer.
    func push(_ event: consuming StreamEvent, terminal: Bool) {
        var pending: StreamEvent? = consume event
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            if state.finished { return nil }
            state.received &+= 1
            if state.events.count - state.head >= capacity {
                guard Self.evict(&state, capacity: capacity, incomingTerminal: terminal) else { return nil }
            }
            state.events.append(pending.take())
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Appends the events of `batch` whose type starts with `typePrefix` (all when `nil`), in order and under
    /// one lock, applying the policy of ``push(_:terminal:)`` to each; moves them out of `batch` when
    /// `moving`, copies them otherwise. Wakes a waiting consumer.
    func append(
        _ batch: inout [StreamEvent?],
        moving: Bool,
        typePrefix: String?,
        producer: RunState,
        _ registration: Registration
    ) {
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            if state.finished { return nil }
            switch registration {
            case .register: state.producers[ObjectIdentifier(producer)] = producer
            case .keep: break
            case .unregister: state.producers[ObjectIdentifier(producer)] = nil
            }
            for index in batch.indices {
                // Take (or copy) the whole event first: reading a field through the optional would copy it
                // anyway, retaining and releasing every string and the content.
                guard let event = moving ? batch[index].take() : batch[index] else { continue }
                if typePrefix != nil && !SubscriptionRoute.matches(event.type, typePrefix: typePrefix) { continue }
                state.received &+= 1
                if state.events.count - state.head >= capacity {
                    guard Self.evict(&state, capacity: capacity, incomingTerminal: event.type.isTerminal) else {
                        continue
                    }
                }
                state.events.append(consume event)
            }
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Whether the consumer waits (or is about to): runs then hand over each event at once.
    @inline(__always)
    var consumerWaiting: Bool { waiting.load(ordering: .sequentiallyConsistent) }

    /// How often a consumer that never runs out of events still collects staged events, in nanoseconds.
    static let collectionInterval: UInt64 = 1_000_000

    /// Collects staged events if ``collectionInterval`` has passed since the last time; called by the
    /// consumer once per batch, so that a subscriber kept busy by other runs still receives the events of
    /// a run that emitted and then waits, within about a millisecond plus the time to consume one batch.
    func collectStagedIfDue() {
        let now = EventTimestamp.monotonicNanoseconds()
        if now &- lastCollection.load(ordering: .relaxed) < Self.collectionInterval { return }
        lastCollection.store(now, ordering: .relaxed)
        collectStaged()
    }

    /// Has every registered run that holds staged events flush them into this buffer.
    func collectStaged() {
        let staging: [RunState] = state.withLock { state in
            state.producers.isEmpty ? [] : state.producers.values.filter(\.hasStaged)
        }
        for run in staging { run.flushStaged() }
    }

    /// Makes room for one event; returns `false` when the incoming event is the one to drop.
    private static func evict(_ state: inout State, capacity: Int, incomingTerminal: Bool) -> Bool {
        state.dropped += 1
        if state.events[state.head]?.type.isTerminal == false {
            state.events[state.head] = nil
            state.head += 1
        } else if let index = state.events[(state.head + 1)...].firstIndex(where: { $0?.type.isTerminal == false }) {
            state.events.remove(at: index)
        } else if incomingTerminal {
            state.droppedTerminal += 1
            state.events[state.head] = nil
            state.head += 1
        } else {
            return false
        }
        if state.head >= capacity {
            state.events.removeFirst(state.head)
            state.head = 0
        }
        return true
    }

    /// Swaps the pending events into `batch`, which must be empty.
    func take(_ batch: inout [StreamEvent?]) -> Take {
        state.withLock { state in
            if state.events.count > state.head {
                swap(&state.events, &batch)
                let start = state.head
                state.head = 0
                return .events(start: start)
            }
            return state.finished ? .finished : .empty
        }
    }

    /// Suspends until an event is pending or the subscription ended (or the task is cancelled).
    ///
    /// Announces the wait first and then collects staged events, so that no run keeps an event staged
    /// while the consumer sleeps: a run either sees the announcement and flushes, or its staged events are
    /// collected here (both sides use sequentially consistent atomics).
    func waitForEvents() async {
        waiting.store(true, ordering: .sequentiallyConsistent)
        defer { waiting.store(false, ordering: .relaxed) }
        collectStaged()
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.events.count > state.head || state.finished || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Ends the subscription: no more events are accepted, the consumer drains what is pending and stops.
    func cancel() {
        let (waiter, first): (UnsafeContinuation<Void, Never>?, Bool) = state.withLock { state in
            let first = !state.finished
            state.finished = true
            state.producers = [:]
            let waiter = state.waiter
            state.waiter = nil
            return (waiter, first)
        }
        waiter?.resume()
        if first { onCancel(self) }
    }

    var dropped: Int { state.withLock { $0.dropped } }
    var droppedTerminal: Int { state.withLock { $0.droppedTerminal } }
    var received: UInt64 { state.withLock { $0.received } }
    var isFinished: Bool { state.withLock { $0.finished } }
}

import Logging
import Synchronization

/// The event bookkeeping of one run: sequence numbers, the terminal flag and the route to subscribers.
///
/// One lock guards seq assignment and delivery together, so each subscriber sees a run's events in seq
/// order even when a parallel batch emits from several tasks.
///
/// Runs bound to an ``EventStreamer`` hand their events to subscriptions in batches, one lock per batch and
/// subscription instead of one per event. The run stages its events and flushes them:
/// - with its first event (which also registers the run with its subscriptions as a producer),
/// - with its terminal event (which also unregisters it), so a finished run holds nothing back,
/// - when ``stagedLimit`` events are staged,
/// - at once while a subscriber is waiting for events (``SubscriptionBuffer/consumerWaiting``),
/// - whenever a subscriber is about to sleep: it first has its registered producers flush
///   (``flushStaged()``).
///
/// So an event never waits for its node to finish or to reach a suspension point: a subscriber that is
/// waiting receives it immediately, and a busy one at the latest when it has nothing else left to take.
final class RunState: Sendable {
    let namespace: String
    let runId: String
    let sink: any EventSink
    /// Set when the sink is an ``EventStreamer``: deliver straight to matching subscriptions, cached per run.
    let streamer: EventStreamer?
    let logger: Logger?
    private let state: Mutex<State>
    /// Whether events are staged; read by subscribers without taking the run's lock.
    private let staging = Atomic<Bool>(false)

    /// The most events a run stages before it flushes them.
    static let stagedLimit = 32

    struct State {
        var seq: UInt64 = 0
        var terminal: EventType?
        var ignored = 0
        var failedNode: String?
        var generation: UInt64 = .max
        var routes: [SubscriptionRoute] = []
        /// Events not yet handed to the routes' buffers, in seq order.
        var staged: [StreamEvent?] = []
        /// Whether the run is registered as a producer with its routes' buffers.
        var registered = false
    }

    init(namespace: String, runId: String, sink: any EventSink, logger: Logger?) {
        self.namespace = namespace
        self.runId = runId
        self.sink = sink
        self.streamer = sink as? EventStreamer
        self.logger = logger
        self.state = Mutex(State())
    }

    /// Emits one event; `countIfLate: false` silently skips it when the run has already ended.
    func emit(_ type: EventType, _ content: JSONValue, node: String, countIfLate: Bool = true) {
        let terminal = type.isTerminal
        let ignoredFirst: Bool = state.withLock { state in
            if state.terminal != nil {
                guard countIfLate else { return false }
                state.ignored += 1
                return state.ignored == 1
            }
            state.seq += 1
            if terminal { state.terminal = type }
            if let streamer {
                let generation = streamer.generation
                if generation != state.generation {
                    // Subscriptions changed: what is staged goes to the old routes, then the new ones apply.
                    flush(&state, unregister: true)
                    state.routes = streamer.routes(namespace: namespace, runId: runId)
                    state.generation = generation
                }
                if state.routes.isEmpty { return false }
                if state.staged.isEmpty {
                    if state.staged.capacity == 0 { state.staged.reserveCapacity(16) }
                    // Sequentially consistent, paired with the subscriber's `consumerWaiting` store: either
                    // the subscriber sees this flag when it collects staged events, or this run sees that
                    // the subscriber waits and flushes below.
                    staging.store(true, ordering: .sequentiallyConsistent)
                }
                state.staged.append(
                    StreamEvent(
                        namespace: namespace,
                        runId: runId,
                        seq: state.seq,
                        type: type,
                        node: node,
                        timestamp: EventTimestamp.now(),
                        content: content
                    )
                )
                if terminal || !state.registered || state.staged.count >= Self.stagedLimit
                    || state.routes.contains(where: { $0.buffer.consumerWaiting })
                {
                    flush(&state, unregister: terminal)
                }
            } else {
                sink.deliver(
                    StreamEvent(
                        namespace: namespace,
                        runId: runId,
                        seq: state.seq,
                        type: type,
                        node: node,
                        timestamp: EventTimestamp.now(),
                        content: content
                    )
                )
            }
            return false
        }
        if ignoredFirst {
            logger?.warning(
                "Event emitted after the run's terminal event; ignored",
                metadata: ["run.id": "\(runId)", "event.type": "\(type)", "node": "\(node)"]
            )
        }
    }

    /// Hands the staged events to the routes' buffers, one lock per buffer, and registers the run with them
    /// as a producer (or unregisters it when `unregister` is set).
    private func flush(_ state: inout State, unregister: Bool) {
        let routes = state.routes
        if state.staged.isEmpty && state.registered != unregister { return }
        let registration: SubscriptionBuffer.Registration =
            unregister ? .unregister : (state.registered ? .keep : .register)
        for index in routes.indices {
            routes[index].buffer.append(
                &state.staged,
                moving: index == routes.count - 1,
                typePrefix: routes[index].typePrefix,
                producer: self,
                registration
            )
        }
        state.staged.removeAll(keepingCapacity: true)
        state.registered = !unregister && !routes.isEmpty
        staging.store(false, ordering: .relaxed)
    }

    /// Whether events may be staged (a hint read without the lock; see ``flushStaged()``).
    var hasStaged: Bool { staging.load(ordering: .sequentiallyConsistent) }

    /// Hands the staged events to the subscriptions now; called by a subscriber that ran out of events.
    func flushStaged() {
        state.withLock { state in
            if !state.staged.isEmpty { flush(&state, unregister: false) }
        }
    }

    /// Emits `type` unless a terminal event was already emitted.
    func finish(_ type: EventType, _ content: JSONValue, node: String) {
        emit(type, content, node: node, countIfLate: false)
    }

    /// Records the innermost node that failed, once.
    func noteFailure(node: String) {
        state.withLock { if $0.failedNode == nil { $0.failedNode = node } }
    }

    var failedNode: String? { state.withLock { $0.failedNode } }
    var eventCount: UInt64 { state.withLock { $0.seq } }
    var ignoredCount: Int { state.withLock { $0.ignored } }
    var terminalType: EventType? { state.withLock { $0.terminal } }
}

import Logging
import Synchronization

/// The event bookkeeping of one run: sequence numbers, the terminal flag and the route to subscribers.
///
/// One lock guards seq assignment and delivery together, so each subscriber sees a run's events in seq
/// order even when a parallel batch emits from several tasks.
final class RunState: Sendable {
    let namespace: String
    let runId: String
    let sink: any EventSink
    /// Set when the sink is an ``EventStreamer``: deliver straight to matching subscriptions, cached per run.
    let streamer: EventStreamer?
    let logger: Logger?
    private let state: Mutex<State>

    struct State {
        var seq: UInt64 = 0
        var terminal: EventType?
        var ignored = 0
        var failedNode: String?
        var generation: UInt64 = .max
        var routes: [SubscriptionRoute] = []
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
                    state.routes = streamer.routes(namespace: namespace, runId: runId)
                    state.generation = generation
                }
                let routes = state.routes
                if routes.isEmpty { return false }
                let event = StreamEvent(
                    namespace: namespace,
                    runId: runId,
                    seq: state.seq,
                    type: type,
                    node: node,
                    timestamp: EventTimestamp.now(),
                    content: content
                )
                if routes.count == 1 {
                    // The common case: hand the event over without copying it.
                    if routes[0].matches(type) { routes[0].buffer.push(event, terminal: terminal) }
                } else {
                    for route in routes where route.matches(type) {
                        route.buffer.push(event, terminal: terminal)
                    }
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

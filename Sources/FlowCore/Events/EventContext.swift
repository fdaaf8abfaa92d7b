/// The run and node a task is currently working for, bound by the running flow as a task-local value.
///
/// ``emit(_:_:)`` reads it to stamp events with namespace, run id, sequence number and node name. Child
/// tasks (a parallel batch) inherit it. It is `nil` outside any run. A class, so that reading it costs one
/// reference count, not a copy of every field.
public final class EventContext: Sendable {
    /// The context of the current task, or `nil` outside a run.
    @TaskLocal public static var current: EventContext?

    let run: RunState
    /// The name of the node being visited.
    public let node: String
    /// The parameters of the current visit.
    public let params: [String: JSONValue]

    init(run: RunState, node: String, params: [String: JSONValue]) {
        self.run = run
        self.node = node
        self.params = params
    }

    /// The run's namespace.
    public var namespace: String { run.namespace }
    /// The run's id.
    public var runId: String { run.runId }

    /// Emits an event for this run; see ``emit(_:_:)``.
    @inline(__always)
    public func emit(_ type: EventType, _ content: JSONValue) {
        run.emit(type, content, node: node)
    }

    func visiting(_ node: String) -> EventContext {
        EventContext(run: run, node: node, params: params)
    }

    func with(params newParams: [String: JSONValue]) -> EventContext {
        EventContext(run: run, node: node, params: newParams)
    }
}

/// Emits an event of the current run from inside a node.
///
/// The event gets the run's namespace and id, the next `seq` and the current node's name. Outside a run,
/// or when nobody listens, this costs next to nothing. Emitting a terminal type (`final`, `error`,
/// `cancelled`) ends the run's event stream: the engine then emits no terminal event of its own, and later
/// emits of the run are ignored and counted in ``FlowResult/ignoredEvents``.
///
/// ```swift
/// emit(.progress, ["status": "making_decision"])
/// ```
@inline(__always)
public func emit(_ type: EventType, _ content: JSONValue = .null) {
    EventContext.current?.emit(type, content)
}

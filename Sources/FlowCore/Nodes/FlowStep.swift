/// Anything a flow can visit: a ``Node``, a ``BatchNode``, a ``Flow`` or a batch flow.
///
/// A step is a value (usually a `struct`) and holds no per-run state: everything a visit needs lives in its
/// locals, in the ``SharedStore`` and in the task-local ``EventContext``. A step visited twice, or by several
/// tasks at once, therefore shares nothing mutable with itself. Conform to ``Node`` or ``BatchNode`` rather
/// than to this protocol directly; they implement ``visit(_:)`` for you.
public protocol FlowStep: Sendable {
    /// The step's name, used in events and logs. Defaults to the type's name.
    var name: String { get }

    /// The shared-store key holding a run's result when this step is run with `run(_:namespace:…)`.
    ///
    /// Defaults to `"result"`. See ``FlowResult/value``.
    var resultKey: String { get }

    /// Performs one visit and returns the action that selects the next step.
    func visit(_ shared: SharedStore) async throws -> Action
}

extension FlowStep {
    public var name: String { String(describing: Self.self) }
    public var resultKey: String { "result" }

    /// The parameters of the current visit: set by the enclosing flow (or the `run` call), merged with each
    /// batch flow's parameter set. Empty outside a run.
    public var params: [String: JSONValue] { EventContext.current?.params ?? [:] }
}

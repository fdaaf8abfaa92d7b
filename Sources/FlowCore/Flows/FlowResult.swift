/// What a run returns: its result value and how its event stream ended.
public struct FlowResult: Sendable, Hashable, Codable {
    /// The run's namespace.
    public var namespace: String
    /// The run's id.
    public var runId: String
    /// The run's result: the value under the flow's ``FlowStep/resultKey`` in the shared store when the
    /// flow ended (`null` if absent). When no node emitted `final`, the engine's `final` event carries it.
    public var value: JSONValue
    /// The action the last step returned.
    public var action: Action
    /// How many events the run emitted, its terminal event included (the terminal event's `seq`).
    public var eventCount: UInt64
    /// Events emitted after the terminal event, and therefore ignored.
    public var ignoredEvents: Int

    public init(
        namespace: String,
        runId: String,
        value: JSONValue,
        action: Action,
        eventCount: UInt64,
        ignoredEvents: Int
    ) {
        self.namespace = namespace
        self.runId = runId
        self.value = value
        self.action = action
        self.eventCount = eventCount
        self.ignoredEvents = ignoredEvents
    }
}

/// One event of a run: what a node emitted, in which namespace and run, and in what order.
///
/// Every run's events carry `seq` 1, 2, 3, … without gaps, and the last one is its single terminal event
/// (`final`, `error` or `cancelled`). `content` is free-form JSON chosen by the emitting node.
public struct StreamEvent: Sendable, Hashable, Codable {
    /// The namespace the run belongs to, such as `sales_agent`.
    public var namespace: String
    /// The run's identifier, unique within the namespace.
    public var runId: String
    /// Position of the event within its run, starting at 1.
    public var seq: UInt64
    /// What happened.
    public var type: EventType
    /// The name of the node that emitted the event (the flow's name for terminal events it emits itself).
    public var node: String
    /// Seconds since 1970-01-01T00:00:00Z when the event was emitted.
    public var timestamp: Double
    /// The event's payload.
    public var content: JSONValue

    public init(
        namespace: String,
        runId: String,
        seq: UInt64,
        type: EventType,
        node: String,
        timestamp: Double,
        content: JSONValue
    ) {
        self.namespace = namespace
        self.runId = runId
        self.seq = seq
        self.type = type
        self.node = node
        self.timestamp = timestamp
        self.content = content
    }

    /// The event's topic on the wire and for prefix matching: `<namespace>/<runId>/<type>`.
    public var topic: String { "\(namespace)/\(runId)/\(type.rawValue)" }
}

/// The kind of a ``StreamEvent``: one of the standard types or any custom string.
public struct EventType: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String {
        didSet { isTerminal = Self.isTerminal(rawValue) }
    }

    /// Whether an event of this type ends its run: `final`, `error` or `cancelled`.
    ///
    /// Computed once when the type is created, because every emitted event asks.
    public private(set) var isTerminal: Bool

    public init(rawValue: String) {
        self.rawValue = rawValue
        self.isTerminal = Self.isTerminal(rawValue)
    }

    public init(_ rawValue: String) { self.init(rawValue: rawValue) }
    public init(stringLiteral value: String) { self.init(rawValue: value) }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    private static func isTerminal(_ rawValue: String) -> Bool {
        rawValue == "final" || rawValue == "error" || rawValue == "cancelled"
    }

    public static func == (lhs: EventType, rhs: EventType) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// A status update, such as `{"status": "making_decision"}`.
    public static let progress: EventType = "progress"
    /// A decision node chose what to do next.
    public static let decisionMade: EventType = "decision_made"
    /// Tool arguments were generated and validated.
    public static let paramsGenerated: EventType = "params_generated"
    /// Tools ran.
    public static let toolsExecuted: EventType = "tools_executed"
    /// A piece of a streamed answer.
    public static let chunk: EventType = "chunk"
    /// A node's `exec` failed and is run again: `{"attempt": n, "max_attempts": m, "error": "…", "wait_ms": w}`
    /// (`attempt` is the one that failed; the next starts after `wait_ms`). Emitted by the engine.
    public static let retrying: EventType = "retrying"
    /// The run's result. Terminal.
    public static let final: EventType = "final"
    /// The run failed. Terminal.
    public static let error: EventType = "error"
    /// The run was cancelled. Terminal.
    public static let cancelled: EventType = "cancelled"
}

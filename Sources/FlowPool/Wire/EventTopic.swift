/// The three parts of an event topic `<namespace>/<runId>/<type>`, validated.
public struct EventTopic: Sendable, Hashable {
    /// The namespace, such as `sales_agent`.
    public var namespace: String
    /// The run's identifier.
    public var runId: String
    /// The event type, such as `chunk`.
    public var type: String

    public init(namespace: String, runId: String, type: String) {
        self.namespace = namespace
        self.runId = runId
        self.type = type
    }

    /// The topic text.
    public var text: String { "\(namespace)/\(runId)/\(type)" }

    /// The run key `<namespace>/<runId>` under which the coordinator tracks the run.
    public var runKey: String { "\(namespace)/\(runId)" }

    /// Parses and validates a topic frame.
    ///
    /// - Throws: ``JSONWireError`` with code `bad_field` when the topic does not have exactly three
    ///   non-empty UTF-8 parts separated by `/`.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONWireError) -> EventTopic {
        guard bytes.count <= PoolNames.maxTopicBytes else {
            throw JSONWireError(.badField, "topic longer than \(PoolNames.maxTopicBytes) bytes")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw JSONWireError(.badField, "topic is not valid UTF-8")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw JSONWireError(.badField, "topic must be <namespace>/<runId>/<type>, got \"\(text.prefix(80))\"")
        }
        if let problem = PoolNames.problem(namespace: String(parts[0])) ?? PoolNames.problem(runId: String(parts[1])) {
            throw JSONWireError(.badField, problem)
        }
        return EventTopic(namespace: String(parts[0]), runId: String(parts[1]), type: String(parts[2]))
    }
}

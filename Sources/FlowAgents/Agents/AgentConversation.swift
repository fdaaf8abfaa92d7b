import FlowCore

/// Reading and writing the conversation kept in the shared store.
enum AgentConversation {
    /// The conversation in `shared`, or a new one: `system` (when given) and the user's question.
    static func messages(in shared: SharedStore, system: String?) throws -> [ChatMessage] {
        if let stored = shared[AgentKeys.messages] {
            return try stored.decode(as: [ChatMessage].self)
        }
        guard let question = shared[AgentKeys.question]?.stringValue else {
            throw AgentError(.invalidInput, "the shared store has no '\(AgentKeys.question)' string to answer")
        }
        return (system.map { [ChatMessage.system($0)] } ?? []) + [.user(question)]
    }

    /// Stores `messages` as the conversation.
    static func store(_ messages: [ChatMessage], in shared: SharedStore) throws {
        shared[AgentKeys.messages] = try JSONValue(encoding: messages)
    }

    /// Appends `new` to the stored conversation atomically.
    static func append(_ new: [ChatMessage], to shared: SharedStore, system: String?) throws {
        var messages = try Self.messages(in: shared, system: system)
        messages += new
        try store(messages, in: shared)
    }
}

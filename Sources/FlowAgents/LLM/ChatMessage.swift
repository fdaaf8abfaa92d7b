/// One message of a conversation with a model.
public struct ChatMessage: Sendable, Hashable, Codable {
    /// Who wrote the message.
    public enum Role: String, Sendable, Hashable, Codable {
        case system
        case user
        case assistant
        case tool
    }

    public var role: Role
    /// The text (for a tool message: the tool's result as JSON text).
    public var content: String
    /// The tool calls an assistant message requested.
    public var toolCalls: [ToolCall]
    /// For a tool message: the id of the call it answers.
    public var toolCallId: String?
    /// For a tool message: the tool's name.
    public var name: String?

    public init(
        role: Role,
        content: String,
        toolCalls: [ToolCall] = [],
        toolCallId: String? = nil,
        name: String? = nil
    ) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.name = name
    }

    /// A system message.
    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text) }
    /// A user message.
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: text) }
    /// An assistant message, possibly requesting tool calls.
    public static func assistant(_ text: String, toolCalls: [ToolCall] = []) -> ChatMessage {
        ChatMessage(role: .assistant, content: text, toolCalls: toolCalls)
    }
    /// A tool's result, answering the call `id`.
    public static func tool(id: String, name: String, result: String) -> ChatMessage {
        ChatMessage(role: .tool, content: result, toolCallId: id, name: name)
    }
}

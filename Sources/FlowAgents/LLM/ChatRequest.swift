/// What a model is asked: a conversation, the tools it may call, and how.
public struct ChatRequest: Sendable, Hashable {
    /// Whether the model may call tools.
    public enum ToolChoice: String, Sendable, Hashable {
        /// The model decides.
        case auto
        /// The model must answer in text.
        case none
    }

    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    public var toolChoice: ToolChoice
    public var temperature: Double?
    public var maxTokens: Int?

    public init(
        messages: [ChatMessage],
        tools: [ToolDefinition] = [],
        toolChoice: ToolChoice = .auto,
        temperature: Double? = nil,
        maxTokens: Int? = nil
    ) {
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.temperature = temperature
        self.maxTokens = maxTokens
    }
}

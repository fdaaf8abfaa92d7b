/// A complete model response: its text, tool calls and finish reason.
public struct ChatCompletion: Sendable, Hashable {
    public var text: String
    public var toolCalls: [ToolCall]
    public var finishReason: FinishReason

    public init(text: String, toolCalls: [ToolCall], finishReason: FinishReason) {
        self.text = text
        self.toolCalls = toolCalls
        self.finishReason = finishReason
    }
}

/// One piece of a streamed model response.
///
/// A stream yields text tokens and complete tool calls in order, and ends with exactly one `.finish`.
public enum ChatDelta: Sendable, Hashable {
    /// A piece of the answer's text.
    case text(String)
    /// A complete tool call (providers assemble incremental pieces before yielding it).
    case toolCall(ToolCall)
    /// The response is complete.
    case finish(FinishReason)
}

/// Why a model stopped.
public enum FinishReason: String, Sendable, Hashable, Codable {
    /// The answer is complete.
    case stop
    /// The model requested tool calls.
    case toolCalls = "tool_calls"
    /// The token limit was reached.
    case length
    /// The provider filtered the content.
    case contentFilter = "content_filter"
}

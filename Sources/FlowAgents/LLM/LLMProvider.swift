/// A language model behind one streaming interface.
///
/// ``stream(_:)`` is the primary call: text tokens and tool calls arrive as ``ChatDelta``s, the last one
/// `.finish`. A stream that ends without `.finish` is an error, never a silent partial answer.
public protocol LLMProvider: Sendable {
    /// Streams the model's response to `request`.
    func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatDelta, any Error>
}

extension LLMProvider {
    /// Runs `request` to completion and returns the whole response.
    ///
    /// - Throws: ``LLMError`` (code `.truncated` when the stream ends without a finish reason), or the
    ///   provider's error.
    public func complete(_ request: ChatRequest) async throws -> ChatCompletion {
        var text = ""
        var calls: [ToolCall] = []
        for try await delta in stream(request) {
            switch delta {
            case .text(let t): text += t
            case .toolCall(let call): calls.append(call)
            case .finish(let reason): return ChatCompletion(text: text, toolCalls: calls, finishReason: reason)
            }
        }
        throw LLMError(.truncated, "the response stream ended without a finish reason")
    }
}

import FlowCore

/// Turns chat-completion stream chunks into ``ChatDelta``s, assembling tool calls by index.
///
/// Text is passed on as it arrives. Tool-call pieces (`id` and `name` first, `arguments` in fragments) are
/// assembled per `index` and handed out, in index order, with the finish reason once `[DONE]` arrives.
struct ChatChunkAssembler {
    private struct PartialCall {
        var id = ""
        var name = ""
        var arguments = ""
    }

    private var calls: [Int: PartialCall] = [:]
    private var finishReason: FinishReason?
    /// Whether `[DONE]` was seen.
    private(set) var isDone = false

    /// The deltas of one `data:` payload.
    ///
    /// - Throws: ``LLMError`` with code `.malformedResponse` for a payload that is not a chunk, or the error
    ///   an in-stream `{"error": …}` reports.
    mutating func consume(_ payload: String) throws(LLMError) -> [ChatDelta] {
        if payload.trimmingWhitespace == "[DONE]" {
            isDone = true
            return finalDeltas()
        }
        guard let chunk = JSONValue.parse(payload), chunk.objectValue != nil else {
            throw LLMError(.malformedResponse, "a stream event is not JSON: \(payload.prefix(120))")
        }
        if let error = chunk["error"] {
            throw LLMError(
                .serverError,
                "the server reported an error in the stream: \((error["message"] ?? error).jsonText.prefix(300))"
            )
        }
        var deltas: [ChatDelta] = []
        for choice in chunk["choices"]?.arrayValue ?? [] {
            let delta = choice["delta"] ?? choice["message"] ?? nil
            if let text = delta["content"]?.stringValue, !text.isEmpty {
                deltas.append(.text(text))
            }
            for piece in delta["tool_calls"]?.arrayValue ?? [] {
                let index = piece["index"]?.intValue ?? calls.count
                var call = calls[index] ?? PartialCall()
                if let id = piece["id"]?.stringValue, !id.isEmpty { call.id = id }
                if let name = piece["function"]?["name"]?.stringValue, !name.isEmpty { call.name += name }
                if let fragment = piece["function"]?["arguments"]?.stringValue { call.arguments += fragment }
                calls[index] = call
            }
            if let reason = choice["finish_reason"]?.stringValue {
                finishReason = FinishReason(rawValue: reason) ?? (reason == "function_call" ? .toolCalls : .stop)
            }
        }
        return deltas
    }

    private func finalDeltas() -> [ChatDelta] {
        let assembled = calls.sorted { $0.key < $1.key }.map { index, call in
            ToolCall(id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments)
        }
        let reason = finishReason ?? (assembled.isEmpty ? .stop : .toolCalls)
        return assembled.map(ChatDelta.toolCall) + [.finish(reason)]
    }
}

import FlowCore

/// The JSON body of a streamed chat-completions request.
enum OpenAIRequestBody {
    static func make(_ request: ChatRequest, model: String) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "stream": true,
            "messages": .array(request.messages.map(message)),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                }
            )
            body["tool_choice"] = .string(request.toolChoice.rawValue)
        }
        if let temperature = request.temperature { body["temperature"] = .double(temperature) }
        if let maxTokens = request.maxTokens { body["max_tokens"] = .int(maxTokens) }
        return .object(body)
    }

    private static func message(_ m: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(m.role.rawValue)]
        object["content"] = m.content.isEmpty && !m.toolCalls.isEmpty ? .null : .string(m.content)
        if !m.toolCalls.isEmpty {
            object["tool_calls"] = .array(
                m.toolCalls.map { call in
                    [
                        "id": .string(call.id), "type": "function",
                        "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                    ]
                }
            )
        }
        if let id = m.toolCallId { object["tool_call_id"] = .string(id) }
        if m.role == .tool, let name = m.name { object["name"] = .string(name) }
        return .object(object)
    }
}

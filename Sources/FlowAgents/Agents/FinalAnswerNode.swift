import FlowCore

/// Streams the model's answer: one `chunk {"text"}` event per token, then `final {"answer"}`.
///
/// The model is asked with the whole conversation (question and tool results) and `toolChoice: none`, so
/// it answers in text. The answer is stored under ``AgentKeys/answer``, the agents' result key. A stream
/// cut off before its end fails the run (the provider's ``LLMError``), never yields a partial answer.
public struct FinalAnswerNode: Node {
    public let provider: any LLMProvider
    public let toolbox: Toolbox
    public let systemPrompt: String?

    public var name: String { "final_answer" }

    public init(provider: any LLMProvider, toolbox: Toolbox, systemPrompt: String? = nil) {
        self.provider = provider
        self.toolbox = toolbox
        self.systemPrompt = systemPrompt
    }

    public func prep(_ shared: SharedStore) async throws -> [ChatMessage] {
        try AgentConversation.messages(in: shared, system: systemPrompt)
    }

    public func exec(_ messages: [ChatMessage]) async throws -> String {
        let request = ChatRequest(messages: messages, tools: toolbox.definitions, toolChoice: .none)
        var answer = ""
        var finished = false
        for try await delta in provider.stream(request) {
            switch delta {
            case .text(let text):
                guard !text.isEmpty else { continue }
                answer += text
                emit(.chunk, ["text": .string(text)])
            case .toolCall:
                continue
            case .finish:
                finished = true
            }
        }
        guard finished else {
            throw LLMError(
                .truncated,
                "the answer stream ended without a finish reason after \(answer.count) characters"
            )
        }
        emit(.final, ["answer": .string(answer)])
        return answer
    }

    public func post(_ shared: SharedStore, prep: [ChatMessage], exec: String) async throws -> Action {
        shared[AgentKeys.answer] = .string(exec)
        try AgentConversation.store(prep + [.assistant(exec)], in: shared)
        return .default
    }
}

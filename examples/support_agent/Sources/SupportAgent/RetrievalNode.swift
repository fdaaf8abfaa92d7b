import FlowAgents
import FlowCore
import Foundation

/// Searches the knowledge base for the question before the model is asked, so that its first answer already
/// rests on the articles.
///
/// The search enters the conversation as a `search_knowledge_base` call and its result, exactly as if the model
/// had made it: any model, FlowAgents' offline one included, then answers from the articles, and a real model
/// may still search again with words of its own. Emits `progress {"status": "searching_knowledge_base"}` and
/// `tools_executed {"count", "failed", "results": [{"tool", "ok", "ms"}], "articles": [{"id", "title"}]}`.
public struct RetrievalNode: Node {
    public let tool: SearchKnowledgeBaseTool
    public let systemPrompt: String

    public var name: String { "retrieve" }

    public init(tool: SearchKnowledgeBaseTool, systemPrompt: String) {
        self.tool = tool
        self.systemPrompt = systemPrompt
    }

    public func prep(_ shared: SharedStore) async throws -> String {
        guard let question = shared[AgentKeys.question]?.stringValue else {
            throw AgentError(.invalidInput, "the shared store has no '\(AgentKeys.question)' string to answer")
        }
        return question
    }

    public func exec(_ question: String) async throws -> [ChatMessage] {
        emit(.progress, ["status": "searching_knowledge_base"])
        let clock = ContinuousClock()
        let start = clock.now
        let articles = tool.knowledgeBase.search(question)
        let result = try JSONValue.string(tool.text(for: articles)).encodedJSON()
        let elapsed = start.duration(to: clock.now)
        emit(
            .toolsExecuted,
            [
                "count": 1, "failed": 0,
                "results": [["tool": .string(tool.name), "ok": true, "ms": .double(elapsed.milliseconds)]],
                "articles": .array(articles.map { ["id": .string($0.id), "title": .string($0.title)] }),
            ]
        )
        let call = ToolCall(id: "retrieve_1", name: tool.name, arguments: ["query": .string(question)])
        return [
            .system(systemPrompt), .user(question), .assistant("", toolCalls: [call]),
            .tool(id: call.id, name: tool.name, result: result),
        ]
    }

    public func post(_ shared: SharedStore, prep: String, exec: [ChatMessage]) async throws -> Action {
        try shared.set(AgentKeys.messages, exec)
        return .default
    }
}

extension JSONValue {
    /// The value as JSON text, the form a tool message carries.
    fileprivate func encodedJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension Duration {
    fileprivate var milliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15
    }
}

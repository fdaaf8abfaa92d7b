import FlowCore

/// Asks the model what to do next: answer, or call tools (and which).
///
/// Emits `progress {"status": "making_decision", "step"}` then
/// `decision_made {"decision": "tool"|"answer", "tool_requests": <count>, "tools": [names], "step"}` and
/// returns the action `tool` or `answer`. After ``maxSteps`` tool rounds it stops asking and forces
/// `answer` (`"forced": true` in the event): the final answer is then written from the results gathered
/// so far.
public struct DecisionNode: Node {
    public let provider: any LLMProvider
    public let toolbox: Toolbox
    public let systemPrompt: String?
    /// The most tool rounds before the answer is forced.
    public let maxSteps: Int

    public var name: String { "decision" }

    public init(provider: any LLMProvider, toolbox: Toolbox, systemPrompt: String? = nil, maxSteps: Int = 5) {
        self.provider = provider
        self.toolbox = toolbox
        self.systemPrompt = systemPrompt
        self.maxSteps = max(0, maxSteps)
    }

    /// What the node decided.
    public struct Decision: Sendable {
        public var action: Action
        public var toolCalls: [ToolCall]
        public var step: Int
        public var forced: Bool
    }

    public func prep(_ shared: SharedStore) async throws -> (messages: [ChatMessage], step: Int) {
        let messages = try AgentConversation.messages(in: shared, system: systemPrompt)
        return (messages, (shared[AgentKeys.steps]?.intValue ?? 0) + 1)
    }

    public func exec(_ prep: (messages: [ChatMessage], step: Int)) async throws -> Decision {
        emit(.progress, ["status": "making_decision", "step": .int(prep.step)])
        var decision = Decision(action: "answer", toolCalls: [], step: prep.step, forced: false)
        if prep.step > maxSteps {
            decision.forced = true
        } else {
            let reply = try await provider.complete(
                ChatRequest(messages: prep.messages, tools: toolbox.definitions, toolChoice: .auto)
            )
            if !reply.toolCalls.isEmpty {
                decision.action = "tool"
                decision.toolCalls = reply.toolCalls
            }
        }
        var content: [String: JSONValue] = [
            "decision": .string(decision.action.rawValue),
            "tool_requests": .int(decision.toolCalls.count),
            "tools": .array(decision.toolCalls.map { .string($0.name) }),
            "step": .int(decision.step),
        ]
        if decision.forced { content["forced"] = true }
        emit(.decisionMade, .object(content))
        return decision
    }

    public func post(
        _ shared: SharedStore,
        prep: (messages: [ChatMessage], step: Int),
        exec: Decision
    ) async throws -> Action {
        shared[AgentKeys.steps] = .int(exec.step)
        shared[AgentKeys.decision] = [
            "action": .string(exec.action.rawValue),
            "tool_requests": .array(
                exec.toolCalls.map {
                    ["id": .string($0.id), "tool": .string($0.name), "arguments": .string($0.arguments)]
                }
            ),
            "step": .int(exec.step),
            "forced": .bool(exec.forced),
        ]
        if exec.action == "tool" {
            try AgentConversation.store(prep.messages + [.assistant("", toolCalls: exec.toolCalls)], in: shared)
        } else {
            try AgentConversation.store(prep.messages, in: shared)
        }
        return exec.action
    }
}

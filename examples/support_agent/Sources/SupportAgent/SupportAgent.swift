import FlowAgents
import FlowCore
import FlowPool
import Foundation
import Logging

/// `support_agent`: answers help-desk questions from the knowledge base.
///
/// The flow is retrieve → decision → (tool params → tool exec → decision)* → final answer: its own
/// ``RetrievalNode`` first, then FlowAgents' agent nodes, with ``SearchKnowledgeBaseTool`` as the one tool.
/// Input `{"question": "<text>"}`; the result is the answer; the events go to the run's namespace.
///
/// ```swift
/// let result = try await SupportAgent.descriptor.ask("How do I reset my password?") { print($0.type) }
/// print(AgentDescriptor.answer(from: result) ?? "")
/// // Reset your password (article kb-101): On the sign-in page, choose Forgot password? …
/// ```
public enum SupportAgent {
    /// The flow's name, which runs are submitted to.
    public static let name = "support_agent"

    /// The system message that opens each conversation.
    public static let systemPrompt = """
        You are a help-desk assistant. Answer the user's question from the help-desk articles that \
        search_knowledge_base returns, in a few sentences or steps, and name the article you used. If no article \
        covers the question, say so and list the topics the knowledge base covers; never invent a procedure.
        """

    /// The agent's flow.
    ///
    /// - Parameters:
    ///   - provider: The model.
    ///   - knowledgeBase: The articles it answers from; the shipped ones by default.
    ///   - maxSteps: The most tool rounds the model may ask for before the answer is forced.
    public static func makeFlow(
        provider: any LLMProvider,
        knowledgeBase: KnowledgeBase = .shipped,
        maxSteps: Int = 3
    ) -> Flow {
        let search = SearchKnowledgeBaseTool(knowledgeBase: knowledgeBase)
        let toolbox = Toolbox([search])
        var flow = Flow(name: name, resultKey: AgentKeys.answer)
        let retrieve = flow.add(RetrievalNode(tool: search, systemPrompt: systemPrompt))
        let decision = flow.add(
            DecisionNode(provider: provider, toolbox: toolbox, systemPrompt: systemPrompt, maxSteps: maxSteps)
        )
        let params = flow.add(ToolParamNode(toolbox: toolbox))
        let exec = flow.add(ToolExecNode(toolbox: toolbox, systemPrompt: systemPrompt))
        let answer = flow.add(FinalAnswerNode(provider: provider, toolbox: toolbox, systemPrompt: systemPrompt))
        flow.connect(retrieve, to: decision)
        flow.connect(decision, on: "tool", to: params)
        flow.connect(decision, on: "answer", to: answer)
        flow.chain(params, exec, decision)
        return flow
    }

    /// The agent as FlowAgents describes agents: its input checks (``AgentDescriptor/makeStore(input:)``), its
    /// flow over the shipped knowledge base, and ``AgentDescriptor/ask(_:provider:namespace:streamer:onEvent:)``
    /// to run a question in process.
    public static let descriptor = AgentDescriptor(
        name: name,
        defaultNamespace: "support",
        summary: "Answers help-desk questions (password, billing, account, two-factor) from a knowledge base.",
        exampleInput: ["question": "How do I reset my password?"],
        makeFlow: { makeFlow(provider: $0) }
    )

    /// Registers `support_agent` in `registry`, asking the model the environment selects.
    ///
    /// The model is FlowAgents' offline one unless the environment names another (``LLMProviders``:
    /// `FLOWPOOL_LLM=openai` with `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPENAI_MODEL`). When the model's
    /// configuration is invalid, the flow is still registered and each run fails with that error, so the cause
    /// shows in every result.
    ///
    /// - Parameters:
    ///   - registry: Where the flow goes.
    ///   - environment: The variables that choose the model.
    ///   - logger: Receives the configuration error, if any.
    public static func register(
        in registry: FlowRegistry,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "support_agent")
    ) {
        let knowledgeBase = KnowledgeBase.shipped
        let flow = Result { () throws(LLMError) -> Flow in
            makeFlow(
                provider: try LLMProviders.fromEnvironment(environment, logger: logger),
                knowledgeBase: knowledgeBase
            )
        }
        if case .failure(let error) = flow {
            logger.error("the support agent's model is misconfigured; its runs will fail: \(error)")
        }
        registry.register(name) { input in
            FlowInvocation(flow: try flow.get(), store: try descriptor.makeStore(input: input))
        }
    }
}

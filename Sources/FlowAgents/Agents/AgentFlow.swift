import FlowCore
import Logging

/// Builds the tool-using agent loop: decision → params → exec → decision … → final answer.
///
/// The decision node returns `tool` (go to params, then exec, then back to the decision) or `answer` (go
/// to the final answer). After `maxSteps` tool rounds the decision forces `answer`, and the final answer is
/// written from what the tools returned so far. The run's result (key ``AgentKeys/answer``) is the answer.
public enum AgentFlow {
    /// The agent flow named `name` over `toolbox`, asking `provider`.
    ///
    /// - Parameters:
    ///   - name: The flow's name (the agent's name, such as `sales_agent`).
    ///   - provider: The model.
    ///   - toolbox: The tools the model may call.
    ///   - systemPrompt: The system message that opens the conversation.
    ///   - maxSteps: The most tool rounds before the answer is forced.
    ///   - toolTimeout: The longest one tool call may take.
    ///   - logger: Receives the flow's warnings.
    public static func make(
        name: String,
        provider: any LLMProvider,
        toolbox: Toolbox,
        systemPrompt: String?,
        maxSteps: Int = 5,
        toolTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "FlowAgents")
    ) -> Flow {
        var flow = Flow(name: name, resultKey: AgentKeys.answer, logger: logger)
        let decision = flow.add(
            DecisionNode(provider: provider, toolbox: toolbox, systemPrompt: systemPrompt, maxSteps: maxSteps)
        )
        let params = flow.add(ToolParamNode(toolbox: toolbox))
        let exec = flow.add(ToolExecNode(toolbox: toolbox, systemPrompt: systemPrompt, timeout: toolTimeout))
        let answer = flow.add(FinalAnswerNode(provider: provider, toolbox: toolbox, systemPrompt: systemPrompt))
        flow.connect(decision, on: "tool", to: params)
        flow.connect(decision, on: "answer", to: answer)
        flow.chain(params, exec, decision)
        return flow
    }
}

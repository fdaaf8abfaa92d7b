/// The shared-store keys the agent nodes read and write.
public enum AgentKeys {
    /// Input: the user's question (a string).
    public static let question = "question"
    /// The conversation so far: an array of encoded ``ChatMessage``s.
    public static let messages = "messages"
    /// The last decision: `{"action", "tool_requests": [{"id", "tool", "arguments"}], "step", "forced"}`.
    public static let decision = "decision"
    /// The last validated calls: `[{"id", "tool", "args"}]` or `[{"id", "tool", "error"}]`.
    public static let params = "params"
    /// The last tool results: `[{"id", "tool", "ok", "result"}]`.
    public static let tools = "tools"
    /// How many decisions were made in this run (an integer).
    public static let steps = "steps"
    /// Output: the final answer (a string); the agents' result key.
    public static let answer = "answer"
}

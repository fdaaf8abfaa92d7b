import FlowCore
import FlowPool

/// `agent4_llm`: the agent4 workload with a simulated model that takes time per token.
///
/// The same decision → tool params → tool exec → final answer flow as ``Agent4``, except that the final
/// answer node waits `token_delay_ms` per token (a `Task.sleep`, like a model call awaiting the network) and
/// emits one `chunk` per `tokens_per_chunk` tokens, each after the delay of all its tokens (one wake-up per
/// chunk, as when a model streams several tokens per network frame). Input: `question`, `token_delay_ms` (default 20),
/// `tokens` (default 8), `tokens_per_chunk` (default 1). With the defaults a run emits 13 events, like agent4,
/// and its answer is agent4's. Used by the load harness to show how many waiting runs a worker holds.
public enum LLMShapedAgent4 {
    /// The flow's name.
    public static let flowName = "agent4_llm"

    /// Registers the flow in `registry`.
    public static func register(in registry: FlowRegistry) {
        registry.register(flowName, flow: makeFlow())
    }

    /// The workload's flow.
    public static func makeFlow() -> Flow {
        var flow = Flow(name: flowName, resultKey: "answer")
        let decision = flow.add(Agent4.DecisionNode())
        let params = flow.add(Agent4.ToolParamsNode())
        let exec = flow.add(Agent4.ToolExecNode())
        let answer = flow.add(SlowAnswerNode())
        flow.connect(decision, on: "tool", to: params)
        flow.chain(params, exec, answer)
        return flow
    }

    /// The answer of a run with `tokens` tokens: `"tok0 tok1 … "`.
    public static func expectedAnswer(tokens: Int) -> String { (0..<tokens).map { "tok\($0) " }.joined() }

    /// Events of a run: four before the answer, one per chunk, and `final`.
    public static func eventsPerRun(tokens: Int, tokensPerChunk: Int) -> Int {
        4 + (tokens + tokensPerChunk - 1) / max(1, tokensPerChunk) + 1
    }

    /// Streams the answer chunk by chunk, waiting the simulated model latency of each chunk's tokens first.
    struct SlowAnswerNode: Node {
        struct Settings: Sendable {
            var delayMs: Double
            var tokens: Int
            var perChunk: Int
        }

        var name: String { "final_answer" }

        func prep(_ shared: SharedStore) async throws -> Settings {
            Settings(
                delayMs: shared["token_delay_ms"]?.doubleValue ?? 20,
                tokens: min(max(shared["tokens"]?.intValue ?? 8, 1), 100_000),
                perChunk: max(shared["tokens_per_chunk"]?.intValue ?? 1, 1)
            )
        }

        func exec(_ s: Settings) async throws -> String {
            var answer = ""
            var start = 0
            while start < s.tokens {
                let end = min(start + s.perChunk, s.tokens)
                // The model delivers a chunk once all of its tokens are generated.
                if s.delayMs > 0 { try await Task.sleep(for: .microseconds(Int(s.delayMs * 1000) * (end - start))) }
                let chunk = (start..<end).map { "tok\($0) " }.joined()
                answer += chunk
                emit(.chunk, ["text": .string(chunk)])
                start = end
            }
            emit(.final, ["answer": .string(answer)])
            return answer
        }

        func post(_ shared: SharedStore, prep: Settings, exec: String) async throws -> Action {
            shared["answer"] = .string(exec)
            return .default
        }
    }
}

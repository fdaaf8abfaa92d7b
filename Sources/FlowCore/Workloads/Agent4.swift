import Logging

/// The `agent4` reference workload: four nodes, thirteen events per run, no network, no sleep.
///
/// Input: `question` in the shared store. The flow runs decision → (action `tool`) tool params → tool exec
/// → final answer, stores `decision`, `params`, `tools` and `answer`, and emits `progress`,
/// `decision_made`, `params_generated`, `tools_executed`, eight `chunk`s and `final`. The final-answer node
/// emits `final` itself; the run's result is the answer string.
///
/// ```swift
/// let result = try await Agent4.makeFlow().run(Agent4.makeStore(question: "hi"), namespace: "sales_agent")
/// // result.value == .string(Agent4.expectedAnswer)
/// ```
public enum Agent4 {
    /// Events per run.
    public static let eventsPerRun = 13
    /// The answer every run produces: `"tok0 tok1 … tok7 "`.
    public static let expectedAnswer = (0..<8).map { "tok\($0) " }.joined()
    /// The flow's name.
    public static let flowName = "agent4"

    /// The workload's flow.
    public static func makeFlow(logger: Logger = Logger(label: "FlowCore.agent4")) -> Flow {
        var flow = Flow(name: flowName, resultKey: "answer", logger: logger)
        let decision = flow.add(DecisionNode())
        let params = flow.add(ToolParamsNode())
        let exec = flow.add(ToolExecNode())
        let answer = flow.add(FinalAnswerNode())
        flow.connect(decision, on: "tool", to: params)
        flow.chain(params, exec, answer)
        return flow
    }

    /// `{"count": n}` for the counts the workload reports; built once, since event contents are immutable.
    static let countContents: [JSONValue] = (0..<8).map { ["count": .int($0)] }

    /// The content `{"count": n}`, shared for small counts.
    static func countContent(_ count: Int) -> JSONValue {
        countContents.indices.contains(count) ? countContents[count] : ["count": .int(count)]
    }

    /// A store holding the workload's input.
    public static func makeStore(question: String) -> SharedStore {
        SharedStore(["question": .string(question)])
    }

    /// Decides to call the `lookup` tool with the question.
    public struct DecisionNode: Node {
        public var name: String { "decision" }
        static let making: JSONValue = ["status": "making_decision"]
        /// `{"decision": "tool", "tool_requests": n}` for small n, built once.
        static let decided: [JSONValue] = (0..<8).map { ["decision": "tool", "tool_requests": .int($0)] }

        public init() {}

        public func prep(_ shared: SharedStore) async throws -> String {
            shared["question"]?.stringValue ?? ""
        }

        public func exec(_ question: String) async throws -> JSONValue {
            emit(.progress, Self.making)
            let requests: [JSONValue] = [["tool": "lookup", "q": .string(question)]]
            emit(
                .decisionMade,
                Self.decided.indices.contains(requests.count)
                    ? Self.decided[requests.count] : ["decision": "tool", "tool_requests": .int(requests.count)]
            )
            return ["action": "tool", "tool_requests": .array(requests)]
        }

        public func post(_ shared: SharedStore, prep: String, exec: JSONValue) async throws -> Action {
            shared["decision"] = exec
            return Action(exec["action"]?.stringValue ?? "default")
        }
    }

    /// Maps each tool request to a call `{"tool": t, "args": {"q": q}}`.
    public struct ToolParamsNode: Node {
        public var name: String { "tool_params" }

        public init() {}

        public func prep(_ shared: SharedStore) async throws -> [JSONValue] {
            shared["decision"]?["tool_requests"]?.arrayValue ?? []
        }

        public func exec(_ requests: [JSONValue]) async throws -> [JSONValue] {
            let calls: [JSONValue] = requests.map { request in
                ["tool": request["tool"] ?? .null, "args": ["q": request["q"] ?? .null]]
            }
            emit(.paramsGenerated, Agent4.countContent(calls.count))
            return calls
        }

        public func post(_ shared: SharedStore, prep: [JSONValue], exec: [JSONValue]) async throws -> Action {
            shared["params"] = .array(exec)
            return .default
        }
    }

    /// Runs each call; `lookup` returns the length of its `q`.
    public struct ToolExecNode: Node {
        public var name: String { "tool_exec" }

        public init() {}

        public func prep(_ shared: SharedStore) async throws -> [JSONValue] {
            shared["params"]?.arrayValue ?? []
        }

        public func exec(_ calls: [JSONValue]) async throws -> [JSONValue] {
            let results: [JSONValue] = calls.map { call in
                let tool = call["tool"] ?? .null
                let q = call["args"]?["q"]?.stringValue ?? ""
                return ["tool": tool, "result": .int(tool == "lookup" ? q.count : 0)]
            }
            emit(.toolsExecuted, Agent4.countContent(results.count))
            return results
        }

        public func post(_ shared: SharedStore, prep: [JSONValue], exec: [JSONValue]) async throws -> Action {
            shared["tools"] = .array(exec)
            return .default
        }
    }

    /// Streams the answer as eight chunks, then emits `final` with it.
    public struct FinalAnswerNode: Node {
        public var name: String { "final_answer" }
        static let chunks: [(text: String, content: JSONValue)] = (0..<8).map { i in
            let text = "tok\(i) "
            return (text, ["text": .string(text)])
        }

        public init() {}

        public func exec(_ prep: Void) async throws -> String {
            var answer = ""
            answer.reserveCapacity(48)
            for chunk in Self.chunks {
                emit(.chunk, chunk.content)
                answer += chunk.text
            }
            emit(.final, ["answer": .string(answer)])
            return answer
        }

        public func post(_ shared: SharedStore, prep: Void, exec: String) async throws -> Action {
            shared["answer"] = .string(exec)
            return .default
        }
    }
}

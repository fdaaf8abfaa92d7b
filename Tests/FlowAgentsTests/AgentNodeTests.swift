import FlowAgents
import FlowCore
import Testing

/// A tool that takes a long time: for the per-tool timeout.
struct SlowTool: Tool {
    var name: String { "slow" }
    var description: String { "Sleeps for a minute." }
    var schema: ToolSchema { ToolSchema([]) }
    func call(_ arguments: ToolArguments) async throws -> JSONValue {
        try await Task.sleep(for: .seconds(60))
        return "late"
    }
}

/// A tool that always fails with a non-tool error.
struct FailingTool: Tool {
    struct Broken: Error {}
    var name: String { "broken" }
    var description: String { "Always fails." }
    var schema: ToolSchema { ToolSchema([]) }
    func call(_ arguments: ToolArguments) async throws -> JSONValue { throw Broken() }
}

@Suite struct AgentNodeTests {
    /// Runs `node` alone as a one-step flow and returns what it emitted.
    private func runAlone(_ node: some Node, _ store: SharedStore) async throws -> RecordingSink {
        var flow = Flow(name: "test")
        flow.add(node)
        let sink = RecordingSink()
        try await flow.run(store, namespace: "node_test", sink: sink)
        return sink
    }

    @Test func decisionNodeAsksTheModelAndRecordsToolRequests() async throws {
        let store = SharedStore(["question": "Top 3 products in 2024?"])
        let node = DecisionNode(provider: OfflineProvider(), toolbox: SalesTools.all(), systemPrompt: "sys")
        let sink = try await runAlone(node, store)
        #expect(sink.types == ["progress", "decision_made", "final"])
        #expect(sink.events[0].content == ["status": "making_decision", "step": 1])
        #expect(sink.events[1].content["decision"] == "tool")
        #expect(sink.events[1].content["tool_requests"] == 1)
        #expect(sink.events[1].content["tools"] == ["top_products"])
        #expect(sink.events.allSatisfy { $0.node == "decision" || $0.type == .final })
        #expect(store["decision"]?["action"] == "tool")
        #expect(store["decision"]?["tool_requests"]?[0]?["tool"] == "top_products")
        #expect(store["steps"] == 1)
        let messages = try #require(try store["messages"]?.decode(as: [ChatMessage].self))
        #expect(messages.map(\.role) == [.system, .user, .assistant])
        #expect(messages[2].toolCalls.count == 1)
    }

    @Test func decisionNodeForcesAnAnswerPastTheStepLimit() async throws {
        let store = SharedStore(["question": "Top 3 products?", "steps": 2])
        let node = DecisionNode(provider: OfflineProvider(), toolbox: SalesTools.all(), maxSteps: 2)
        let sink = try await runAlone(node, store)
        #expect(sink.events[1].content["decision"] == "answer")
        #expect(sink.events[1].content["forced"] == true)
        #expect(store["decision"]?["forced"] == true)
    }

    @Test func toolParamNodeValidatesEachRequest() async throws {
        let store = SharedStore([
            "decision": [
                "action": "tool",
                "tool_requests": [
                    ["id": "a", "tool": "top_products", "arguments": #"{"limit": 3, "region": "north"}"#],
                    ["id": "b", "tool": "top_products", "arguments": #"{"limit": 500}"#],
                    ["id": "c", "tool": "rm_rf", "arguments": "{}"],
                    ["id": "d", "tool": "total_sales", "arguments": "{not json"],
                ],
            ]
        ])
        let sink = try await runAlone(ToolParamNode(toolbox: SalesTools.all()), store)
        #expect(sink.types == ["params_generated", "final"])
        let content = sink.events[0].content
        #expect(content["count"] == 4)
        #expect(content["valid"] == 1)
        #expect(content["invalid"] == 3)
        let params = try #require(store["params"]?.arrayValue)
        #expect(params[0]["args"] == ["limit": 3, "region": "North"])
        #expect(params[1]["error"]?["message"]?.stringValue?.contains("at most 20") == true)
        #expect(params[2]["error"]?["code"] == "unknown_tool")
        #expect(params[3]["error"]?["message"]?.stringValue?.contains("not valid JSON") == true)
    }

    @Test func toolExecNodeRunsCallsConcurrentlyAndTurnsFailuresIntoResults() async throws {
        let toolbox = Toolbox(SalesTools.all().tools + [SlowTool(), FailingTool()])
        let store = SharedStore([
            "question": "q",
            "params": [
                ["id": "1", "tool": "total_sales", "args": ["region": "East"]],
                ["id": "2", "tool": "slow", "args": [:]],
                ["id": "3", "tool": "broken", "args": [:]],
                ["id": "4", "tool": "top_products", "error": ["code": "invalid_arguments", "message": "bad"]],
            ],
        ])
        // Build and open the database first, so that only the slow tool comes near the deadline.
        _ = try await SalesTools.all().tool(named: "total_sales").call(json: [:])
        let clock = ContinuousClock()
        let start = clock.now
        let sink = try await runAlone(ToolExecNode(toolbox: toolbox, timeout: .seconds(2)), store)
        #expect(clock.now - start < .seconds(30))
        #expect(sink.types == ["tools_executed", "final"])
        #expect(sink.events[0].content["count"] == 4)
        #expect(sink.events[0].content["failed"] == 3)
        let results = try #require(store["tools"]?.arrayValue)
        let east = ReferenceData.revenueCents { $0.region == "East" }
        #expect(results[0]["ok"] == true)
        #expect(results[0]["result"]?["revenue"]?.doubleValue == Double(east) / 100)
        #expect(results[1]["result"]?["error"]?["code"] == "timeout")
        #expect(results[2]["result"]?["error"]?["code"] == "failed")
        #expect(results[3]["result"]?["error"]?["message"] == "bad")
        // The results join the conversation as tool messages answering each call id.
        let messages = try #require(try store["messages"]?.decode(as: [ChatMessage].self))
        #expect(messages.filter { $0.role == .tool }.map(\.toolCallId) == ["1", "2", "3", "4"])
    }

    @Test func finalAnswerNodeStreamsChunksThenFinal() async throws {
        let call = ToolCall(id: "c1", name: "last_price", arguments: ["symbol": "AAPL"])
        let messages: [ChatMessage] = [
            .user("AAPL?"), .assistant("", toolCalls: [call]),
            .tool(id: "c1", name: "last_price", result: #"{"symbol": "AAPL", "date": "2025-12-31", "close": 141.76}"#),
        ]
        let store = SharedStore(["messages": try JSONValue(encoding: messages)])
        let sink = try await runAlone(FinalAnswerNode(provider: OfflineProvider(), toolbox: StockTools.all()), store)
        let types = sink.types
        #expect(types.last == "final")
        #expect(types.dropLast().allSatisfy { $0 == "chunk" })
        #expect(types.count > 3)
        let chunks = sink.events.dropLast().compactMap { $0.content["text"]?.stringValue }.joined()
        let answer = try #require(store["answer"]?.stringValue)
        #expect(chunks == answer)
        #expect(sink.events.last?.content == ["answer": .string(answer)])
        #expect(answer.contains("$141.76"))
        #expect(sink.events.map(\.seq) == Array(1...UInt64(sink.events.count)))
    }
}

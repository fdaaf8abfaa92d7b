import FlowAgents
import FlowCore
import Foundation
import Logging
import Testing

@Suite(.timeLimit(.minutes(2)))
struct OpenAICompatibleProviderTests {
    private func provider(
        _ base: URL,
        model: String,
        key: String = "test-key",
        idle: Duration = .seconds(20)
    )
        -> OpenAICompatibleProvider
    {
        var quiet = Logger(label: "test.llm")
        quiet.logLevel = .critical
        return OpenAICompatibleProvider(
            baseURL: base,
            apiKey: key,
            model: model,
            maxAttempts: 3,
            retryBaseDelay: .milliseconds(50),
            maxRetryDelay: .seconds(2),
            idleTimeout: idle,
            totalTimeout: .seconds(30),
            logger: quiet
        )
    }

    private func collect(
        _ provider: OpenAICompatibleProvider,
        _ request: ChatRequest = ChatRequest(messages: [.user("hi")])
    )
        async throws -> [ChatDelta]
    {
        var deltas: [ChatDelta] = []
        for try await delta in provider.stream(request) { deltas.append(delta) }
        return deltas
    }

    @Test func streamsTextTokenByTokenThenFinishes() async throws {
        try await LoopbackLLMServer.with { base in
            let deltas = try await collect(provider(base, model: "normal"))
            let texts = deltas.compactMap { if case .text(let t) = $0 { t } else { nil } }
            #expect(texts == ["Hello", " from", " the", " loopback", " model."])
            #expect(deltas.last == .finish(.stop))
        }
    }

    @Test func assemblesIncrementalToolCallsByIndex() async throws {
        try await LoopbackLLMServer.with { base in
            let reply = try await provider(base, model: "tool_call").complete(ChatRequest(messages: [.user("hi")]))
            #expect(reply.finishReason == .toolCalls)
            #expect(
                reply.toolCalls == [
                    ToolCall(id: "call_a", name: "total_sales", arguments: "{\"region\": \"North\"}"),
                    ToolCall(id: "call_b", name: "top_products", arguments: "{\"limit\": 3}"),
                ]
            )
            #expect(try reply.toolCalls[0].parsedArguments() == ["region": "North"])
        }
    }

    @Test func acceptsANonStreamedCompletion() async throws {
        try await LoopbackLLMServer.with { base in
            let reply = try await provider(base, model: "not_streamed").complete(ChatRequest(messages: [.user("hi")]))
            #expect(reply.toolCalls == [ToolCall(id: "call_x", name: "last_price", arguments: #"{"symbol": "AAPL"}"#)])
            #expect(reply.finishReason == .toolCalls)
        }
    }

    @Test func sendsMessagesToolsAndToolChoice() async throws {
        try await LoopbackLLMServer.with { base in
            let request = ChatRequest(
                messages: [
                    .system("s"), .user("q"),
                    .assistant("", toolCalls: [ToolCall(id: "c1", name: "total_sales", arguments: "{}")]),
                    .tool(id: "c1", name: "total_sales", result: "{\"revenue\": 1}"),
                ],
                tools: SalesTools.all().definitions,
                toolChoice: .none
            )
            let reply = try await provider(base, model: "echo").complete(request)
            let echoed = try #require(JSONValue.parseForTest(reply.text))
            #expect(echoed["roles"] == ["system", "user", "assistant", "tool"])
            #expect(echoed["tools"] == ["total_sales", "top_products", "sales_by_region", "sales_by_month"])
            #expect(echoed["tool_choice"] == "none")
            #expect(echoed["stream"] == true)
            #expect(echoed["tool_call_ids"] == ["c1"])
        }
    }

    @Test func retriesAfter429HonouringRetryAfter() async throws {
        try await LoopbackLLMServer.with { base in
            let testId = UUID().uuidString
            var p = provider(base, model: "rate_limit")
            p.extraHeaders = ["X-Test-Id": testId]
            let clock = ContinuousClock()
            let start = clock.now
            let reply = try await p.complete(ChatRequest(messages: [.user("hi")]))
            #expect(reply.text == "Hello from the loopback model.")
            // Retry-After: 1 outweighs the 50 ms backoff.
            #expect(clock.now - start >= .milliseconds(900))
            let requests = try await requestCount(base, testId)
            #expect(requests == 2)
        }
    }

    @Test func givesUpAfterRepeated500() async throws {
        try await LoopbackLLMServer.with { base in
            let testId = UUID().uuidString
            var p = provider(base, model: "server_error")
            p.extraHeaders = ["X-Test-Id": testId]
            let error = await #expect(throws: LLMError.self) { try await collect(p) }
            #expect(error?.code == .serverError)
            #expect(error?.status == 500)
            let requests = try await requestCount(base, testId)
            #expect(requests == 3)
        }
    }

    @Test func rejectsBadKeyWithoutRetrying() async throws {
        try await LoopbackLLMServer.with { base in
            let testId = UUID().uuidString
            var p = provider(base, model: "normal", key: "wrong")
            p.extraHeaders = ["X-Test-Id": testId]
            let error = await #expect(throws: LLMError.self) { try await collect(p) }
            #expect(error?.code == .unauthorized)
            #expect(error?.message.contains("Incorrect API key") == true)
            let requests = try await requestCount(base, testId)
            #expect(requests == 1)
        }
    }

    @Test(arguments: ["cut", "cut_chunked"])
    func streamCutMidAnswerIsAnError(model: String) async throws {
        try await LoopbackLLMServer.with { base in
            var texts: [String] = []
            let error = await #expect(throws: LLMError.self) {
                for try await delta in provider(base, model: model).stream(ChatRequest(messages: [.user("hi")])) {
                    if case .text(let t) = delta { texts.append(t) }
                    #expect(delta != .finish(.stop))
                }
            }
            #expect(error?.code == .truncated)
            #expect(texts.joined() == "The answer is forty")
        }
    }

    @Test func malformedStreamIsAnError() async throws {
        try await LoopbackLLMServer.with { base in
            let error = await #expect(throws: LLMError.self) { try await collect(provider(base, model: "malformed")) }
            #expect(error?.code == .malformedResponse)
        }
    }

    @Test func slowServerTimesOut() async throws {
        try await LoopbackLLMServer.with { base in
            let error = await #expect(throws: LLMError.self) {
                try await collect(provider(base, model: "slow", idle: .milliseconds(500)))
            }
            #expect(error?.code == .timeout)
        }
    }

    @Test func unreachableServerIsReported() async throws {
        // A port nothing listens on: bind and close a listener to find one.
        let p = provider(URL(string: "http://127.0.0.1:1/v1")!, model: "normal")
        let error = await #expect(throws: LLMError.self) { try await collect(p) }
        #expect(error?.code == .unreachable)
    }

    @Test func environmentConfiguration() throws {
        let p = try OpenAICompatibleProvider.fromEnvironment([
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "m",
        ])
        #expect(p.baseURL.absoluteString == "http://127.0.0.1:9/v1")
        #expect(p.model == "m")
        #expect(p.apiKey == nil)
        let missing = #expect(throws: LLMError.self) { try OpenAICompatibleProvider.fromEnvironment([:]) }
        #expect(missing?.code == .configuration)
        #expect(try LLMProviders.fromEnvironment([:]) is OfflineProvider)
        #expect(try LLMProviders.fromEnvironment(["OPENAI_API_KEY": "k"]) is OpenAICompatibleProvider)
        #expect(
            try LLMProviders.fromEnvironment(["OPENAI_API_KEY": "k", "FLOWPOOL_LLM": "offline"]) is OfflineProvider
        )
        #expect(throws: LLMError.self) { try LLMProviders.fromEnvironment(["FLOWPOOL_LLM": "gpt"]) }
    }

    @Test func salesAgentRunsOnTheHTTPProvider() async throws {
        // The model calls total_sales for North, the tool runs, and the answer streams back as chunks.
        try await LoopbackLLMServer.with { base in
            let sink = RecordingSink()
            let flow = SalesAgent.makeFlow(provider: provider(base, model: "agent"))
            let result = try await flow.run(
                try SalesAgent.descriptor.makeStore(question: "North revenue?"),
                namespace: "sales_agent",
                sink: sink
            )
            let cents = ReferenceData.revenueCents { $0.region == "North" }
            let expected = "North revenue: \(cents / 100).\(String(format: "%02d", cents % 100)) USD."
            #expect(result.value == .string(expected))
            #expect(
                sink.types == [
                    "progress", "decision_made", "params_generated", "tools_executed", "progress", "decision_made",
                    "chunk", "chunk", "chunk", "chunk", "final",
                ]
            )
        }
    }

    @Test func stepLimitForcesTheAnswer() async throws {
        // This model asks for tools on every turn: after two rounds the decision forces the answer.
        try await LoopbackLLMServer.with { base in
            let sink = RecordingSink()
            let flow = SalesAgent.makeFlow(provider: provider(base, model: "tool_call"), maxSteps: 2)
            try await flow.run(try SalesAgent.descriptor.makeStore(question: "q"), namespace: "sales_agent", sink: sink)
            let decisions = sink.events.filter { $0.type == .decisionMade }
            #expect(decisions.map { $0.content["decision"] } == ["tool", "tool", "answer"])
            #expect(decisions.last?.content["forced"] == true)
            #expect(sink.types.filter { $0 == "tools_executed" }.count == 2)
            #expect(sink.types.last == "final")
        }
    }

    private func requestCount(_ base: URL, _ testId: String) async throws -> Int {
        let url = URL(string: base.absoluteString.replacingOccurrences(of: "/v1", with: "/stats?id=\(testId)"))!
        let text = try await StatsFetcher.get(url)
        return JSONValue.parseForTest(text)?["requests"]?.intValue ?? -1
    }
}

extension JSONValue {
    static func parseForTest(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

import FlowAgents
import FlowCore
import Testing

@Suite struct OfflineProviderTests {
    let provider = OfflineProvider()

    private func plan(_ question: String, _ tools: Toolbox) -> [ToolCall] {
        provider.respond(to: ChatRequest(messages: [.user(question)], tools: tools.definitions)).toolCalls
    }

    static let salesCases: [(String, String, JSONValue)] = [
        (
            "What were total sales in the North region in March 2024?", "total_sales",
            ["region": "North", "start_date": "2024-03-01", "end_date": "2024-03-31"]
        ),
        (
            "Total revenue for Laptop in 2024", "total_sales",
            ["product": "Laptop", "start_date": "2024-01-01", "end_date": "2024-12-31"]
        ),
        ("What are the top 3 products by units sold?", "top_products", ["by": "units", "limit": 3]),
        (
            "Best-selling products in the East in Q2 2024", "top_products",
            ["by": "revenue", "region": "East", "start_date": "2024-04-01", "end_date": "2024-06-30"]
        ),
        (
            "Which region had the highest sales in 2024?", "sales_by_region",
            ["start_date": "2024-01-01", "end_date": "2024-12-31"]
        ),
        ("Show the monthly sales trend for Electronics", "sales_by_month", ["category": "Electronics"]),
        (
            "How much did we sell of Running Shoes in the last 3 months?", "total_sales",
            ["product": "Running Shoes", "start_date": "2025-04-01", "end_date": "2025-06-30"]
        ),
    ]

    @Test(arguments: salesCases)
    func salesQuestionsPickTheRightToolAndArguments(question: String, tool: String, expected: JSONValue) throws {
        let calls = plan(question, SalesTools.all())
        let call = try #require(calls.first { $0.name == tool }, "\(calls)")
        let arguments = try call.parsedArguments()
        for (key, value) in expected.objectValue ?? [:] {
            #expect(arguments[key] == value, "\(key) in \(arguments)")
        }
    }

    @Test func severalProductsBecomeOneCallEach() throws {
        let calls = plan("Sales of Desk Lamp vs Standing Desk", SalesTools.all())
        #expect(try calls.map { try $0.parsedArguments()["product"] } == ["Desk Lamp", "Standing Desk"])
    }

    @Test func severalRegionsBecomeOneCallEach() throws {
        let calls = plan("Compare sales in the East and West regions in Q1 2025", SalesTools.all())
        #expect(calls.map(\.name) == ["total_sales", "total_sales"])
        #expect(try calls.map { try $0.parsedArguments()["region"] } == ["East", "West"])
        #expect(Set(calls.map(\.id)).count == 2)
    }

    static let stockCases: [(String, String, JSONValue)] = [
        ("What is the last price of AAPL?", "last_price", ["symbol": "AAPL"]),
        ("How much is Tesla trading at?", "last_price", ["symbol": "TSLA"]),
        ("How did NVDA perform over the last 30 days?", "price_change", ["symbol": "NVDA", "days": 30]),
        (
            "How did Microsoft change in 2024?", "price_change",
            ["symbol": "MSFT", "start_date": "2024-01-01", "end_date": "2024-12-31"]
        ),
        ("What's the 50-day moving average of MSFT?", "moving_average", ["symbol": "MSFT", "window": 50]),
        (
            "Compare TSLA and META over the past 3 months", "compare_symbols",
            ["symbol_a": "TSLA", "symbol_b": "META", "days": 63]
        ),
        (
            "Did Amazon outperform Google last year?", "compare_symbols",
            ["symbol_a": "AMZN", "symbol_b": "GOOGL", "days": 252]
        ),
    ]

    @Test(arguments: stockCases)
    func stockQuestionsPickTheRightToolAndArguments(question: String, tool: String, expected: JSONValue) throws {
        let calls = plan(question, StockTools.all())
        let call = try #require(calls.first, "no call for \(question)")
        #expect(call.name == tool)
        let arguments = try call.parsedArguments()
        for (key, value) in expected.objectValue ?? [:] {
            #expect(arguments[key] == value, "\(key) in \(arguments)")
        }
        // Every planned call passes its tool's schema.
        for call in calls {
            _ = try StockTools.all().tool(named: call.name).validate(try call.parsedArguments())
        }
    }

    @Test func questionsWithoutIntentAreAnsweredDirectly() {
        let reply = provider.respond(
            to: ChatRequest(messages: [.user("Hello there!")], tools: StockTools.all().definitions)
        )
        #expect(reply.toolCalls.isEmpty)
        #expect(reply.finishReason == .stop)
        #expect(reply.text.contains("stock prices"))
    }

    @Test func answersUseTheToolResultsNumbers() {
        let call = ToolCall(id: "call_1_1", name: "total_sales", arguments: ["region": "North"])
        let request = ChatRequest(
            messages: [
                .user("North sales?"), .assistant("", toolCalls: [call]),
                .tool(
                    id: "call_1_1",
                    name: "total_sales",
                    result: #"{"revenue": 1234567.5, "units": 4321, "orders": 987, "filters": {"region": "North"}}"#
                ),
            ],
            tools: SalesTools.all().definitions,
            toolChoice: .none
        )
        let reply = provider.respond(to: request)
        #expect(reply.toolCalls.isEmpty)
        #expect(reply.text.contains("$1,234,567.50"))
        #expect(reply.text.contains("987 orders"))
        #expect(reply.text.contains("North region"))
    }

    @Test func toolErrorsAreExplained() {
        let request = ChatRequest(
            messages: [
                .user("q"), .assistant("", toolCalls: [ToolCall(id: "c", name: "last_price", arguments: "{}")]),
                .tool(
                    id: "c",
                    name: "last_price",
                    result: #"{"error": {"code": "invalid_arguments", "message": "bad symbol"}}"#
                ),
            ],
            tools: StockTools.all().definitions
        )
        #expect(provider.respond(to: request).text.contains("bad symbol"))
    }

    @Test func aTextResultOfAToolOfAnotherAgentIsQuotedAsItIs() {
        let call = ToolCall(id: "c", name: "search_faq", arguments: ["query": "refund"])
        let other = ToolCall(id: "d", name: "lookup", arguments: "{}")
        let request = ChatRequest(
            messages: [
                .user("Refunds?"), .assistant("", toolCalls: [call, other]),
                .tool(id: "c", name: "search_faq", result: #""Refunds \"within\" 5 days.""#),
                .tool(id: "d", name: "lookup", result: #"{"days": 5}"#),
            ],
            toolChoice: .none
        )
        #expect(provider.respond(to: request).text == #"Refunds "within" 5 days. lookup returned {"days":5}."#)
    }

    @Test func streamsWordTokensThatConcatenateToTheAnswer() async throws {
        let request = ChatRequest(messages: [.user("Hi")], tools: SalesTools.all().definitions)
        var tokens: [String] = []
        var finish: FinishReason?
        for try await delta in OfflineProvider(tokenDelay: .milliseconds(1)).stream(request) {
            switch delta {
            case .text(let t): tokens.append(t)
            case .finish(let r): finish = r
            case .toolCall: Issue.record("unexpected tool call")
            }
        }
        #expect(tokens.count > 10)
        #expect(tokens.dropLast().allSatisfy { $0.hasSuffix(" ") && !$0.dropLast().contains(" ") })
        #expect(tokens.joined() == provider.respond(to: request).text)
        #expect(finish == .stop)
    }
}

import FlowAgents
import FlowCore
import Foundation
import Testing

@Suite struct AgentEndToEndTests {
    private func ask(_ agent: AgentDescriptor, _ question: String) async throws -> (answer: String, sink: RecordingSink)
    {
        let sink = RecordingSink()
        let flow = agent.makeFlow(provider: OfflineProvider())
        let result = try await flow.run(
            try agent.makeStore(question: question),
            namespace: agent.defaultNamespace,
            sink: sink
        )
        return (AgentDescriptor.answer(from: result) ?? "", sink)
    }

    private func toolsCalled(_ sink: RecordingSink) -> [String] {
        sink.events.filter { $0.type == .decisionMade }.flatMap { $0.content["tools"]?.arrayValue ?? [] }
            .compactMap(\.stringValue)
    }

    @Test func salesTotalForARegionAndMonth() async throws {
        let (answer, sink) = try await ask(
            SalesAgent.descriptor,
            "What were total sales in the North region in March 2024?"
        )
        let expected = ReferenceData.revenueCents { $0.region == "North" && $0.date.hasPrefix("2024-03") }
        #expect(answer.contains(ReferenceData.money(cents: expected)), "\(answer)")
        #expect(toolsCalled(sink) == ["total_sales"])
        #expect(
            sink.types.prefix(6) == [
                "progress", "decision_made", "params_generated", "tools_executed", "progress", "decision_made",
            ]
        )
        #expect(sink.types.last == "final")
        #expect(sink.events.allSatisfy { $0.namespace == "sales_agent" })
        #expect(sink.events.map(\.seq) == Array(1...UInt64(sink.events.count)))
    }

    @Test func salesTopProductsByUnits() async throws {
        let (answer, sink) = try await ask(SalesAgent.descriptor, "What were the top 3 products by units sold in 2024?")
        var units: [String: Int] = [:]
        for row in ReferenceData.sales where row.date.hasPrefix("2024") {
            units[row.product, default: 0] += row.quantity
        }
        let best = units.max { $0.value < $1.value }!
        #expect(toolsCalled(sink) == ["top_products"])
        #expect(answer.contains("1. \(best.key)"), "\(answer)")
        #expect(
            answer.contains(
                "\(best.value.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))) units"
            ),
            "\(answer)"
        )
    }

    @Test func salesTwoRegionsRunTwoToolsAndCompare() async throws {
        let (answer, sink) = try await ask(
            SalesAgent.descriptor,
            "Compare sales in the East and West regions in Q1 2025"
        )
        #expect(toolsCalled(sink) == ["total_sales", "total_sales"])
        let executed = try #require(sink.events.first { $0.type == .toolsExecuted })
        #expect(executed.content["count"] == 2)
        for region in ["East", "West"] {
            let cents = ReferenceData.revenueCents {
                $0.region == region && $0.date >= "2025-01-01" && $0.date <= "2025-03-31"
            }
            #expect(answer.contains(ReferenceData.money(cents: cents)), "\(region): \(answer)")
        }
        #expect(answer.contains("ahead of"))
    }

    @Test func salesBestRegion() async throws {
        let (answer, sink) = try await ask(SalesAgent.descriptor, "Which region had the highest sales in 2024?")
        var revenue: [String: Int] = [:]
        for row in ReferenceData.sales where row.date.hasPrefix("2024") {
            revenue[row.region, default: 0] += row.quantity * row.cents
        }
        let best = revenue.max { $0.value < $1.value }!
        #expect(toolsCalled(sink) == ["sales_by_region"])
        #expect(answer.contains("\(best.key) leads with \(ReferenceData.money(cents: best.value))"), "\(answer)")
    }

    @Test func stockLastPrice() async throws {
        let (answer, sink) = try await ask(StockAgent.descriptor, "What is the last price of AAPL?")
        #expect(toolsCalled(sink) == ["last_price"])
        let last = ReferenceData.closes["AAPL"]!.last!
        #expect(answer.contains("AAPL closed at \(ReferenceData.money(last.close)) on \(last.date)"), "\(answer)")
    }

    @Test func stockChangeOverThirtyDays() async throws {
        let (answer, sink) = try await ask(StockAgent.descriptor, "How did NVDA perform over the last 30 days?")
        #expect(toolsCalled(sink) == ["price_change"])
        let closes = ReferenceData.closes["NVDA"]!
        let start = closes[closes.count - 31].close
        let end = closes.last!.close
        let percent = String(format: "%.2f%%", abs((end - start) / start * 100))
        #expect(answer.contains(ReferenceData.money(start)), "\(answer)")
        #expect(answer.contains(ReferenceData.money(end)), "\(answer)")
        #expect(answer.contains(percent), "\(answer)")
        #expect(answer.contains(end >= start ? "up" : "down"))
    }

    @Test func stockMovingAverage() async throws {
        let (answer, _) = try await ask(StockAgent.descriptor, "What's the 50-day moving average of MSFT?")
        let closes = ReferenceData.closes["MSFT"]!.suffix(50).map(\.close)
        let average = closes.reduce(0, +) / 50
        #expect(answer.contains("50-day moving average of MSFT"), "\(answer)")
        #expect(answer.contains(String(format: "$%.2f", average)), "\(answer)")
    }

    @Test func stockComparison() async throws {
        let (answer, sink) = try await ask(StockAgent.descriptor, "Compare TSLA and META over the last 90 days")
        #expect(toolsCalled(sink) == ["compare_symbols"])
        let change = { (s: String) -> Double in
            let c = ReferenceData.closes[s]!
            return (c.last!.close - c[c.count - 91].close) / c[c.count - 91].close * 100
        }
        let better = change("TSLA") >= change("META") ? "TSLA" : "META"
        #expect(answer.contains("\(better) did better"), "\(answer)")
        #expect(answer.contains(String(format: "%.2f%%", abs(change("TSLA")))), "\(answer)")
    }

    @Test func unknownSymbolBecomesAToolErrorListingTheValidOnes() async throws {
        let (answer, sink) = try await ask(StockAgent.descriptor, "What is IBM trading at?")
        #expect(toolsCalled(sink) == ["last_price"])
        let params = try #require(sink.events.first { $0.type == .paramsGenerated })
        #expect(params.content["invalid"] == 1)
        #expect(sink.events.first { $0.type == .toolsExecuted }?.content["failed"] == 1)
        #expect(answer.contains("must be one of: AAPL, MSFT, GOOGL, AMZN, NVDA, TSLA, META, NFLX"), "\(answer)")
        #expect(sink.types.last == "final")
    }

    @Test func unknownRegionBecomesAToolErrorListingTheValidOnes() async throws {
        let (answer, _) = try await ask(SalesAgent.descriptor, "What were total sales in the Europe region?")
        #expect(answer.contains("must be one of: North, South, East, West, Central; got 'Europe'"), "\(answer)")
    }

    @Test func questionsOutsideTheDomainAreAnsweredDirectly() async throws {
        let (answer, sink) = try await ask(StockAgent.descriptor, "hello, who are you?")
        #expect(toolsCalled(sink).isEmpty)
        #expect(sink.types.prefix(2) == ["progress", "decision_made"])
        #expect(sink.events[1].content["decision"] == "answer")
        #expect(sink.types.last == "final")
        #expect(answer.contains("stock prices"))
    }

    @Test func askStreamsLiveEventsInOrder() async throws {
        let recorder = EventRecorder()
        let result = try await StockAgent.descriptor.ask("Last price of NFLX?", namespace: "stock_live") { event in
            recorder.record(event)
        }
        let events = recorder.all
        #expect(events.map(\.seq) == Array(1...UInt64(events.count)))
        #expect(events.last?.type == .final)
        #expect(events.allSatisfy { $0.namespace == "stock_live" && $0.runId == result.runId })
        #expect(events.contains { $0.type == .chunk })
        #expect(AgentDescriptor.answer(from: result)?.contains("NFLX closed at") == true)
    }

    @Test func agent4RunsThroughTheDescriptor() async throws {
        let recorder = EventRecorder()
        let result = try await Agents.agent4.ask("hello") { recorder.record($0) }
        #expect(recorder.all.count == Agent4.eventsPerRun)
        #expect(AgentDescriptor.answer(from: result) == Agent4.expectedAnswer)
    }

    @Test func registryAndInputValidation() throws {
        #expect(Agents.all.map(\.name) == ["sales_agent", "stock_agent"])
        #expect(try Agents.named("stock_agent").defaultNamespace == "stock_agent")
        #expect(throws: AgentError.self) { try Agents.named("nope") }
        #expect(try Agents.named("agent4").name == "agent4")
        let store = try SalesAgent.descriptor.makeStore(input: ["question": "  Total sales?  "])
        #expect(store["question"] == "Total sales?")
        let missing = #expect(throws: AgentError.self) { try SalesAgent.descriptor.makeStore(input: ["q": 1]) }
        #expect(missing?.message.contains("{\"question\": \"<text>\"}") == true)
        #expect(throws: AgentError.self) { try SalesAgent.descriptor.makeStore(input: ["question": "   "]) }
        #expect(throws: AgentError.self) {
            try SalesAgent.descriptor.makeStore(input: ["question": .string(String(repeating: "x", count: 5000))])
        }
    }
}

import FlowAgents
import FlowCore
import Foundation
import Testing

@Suite struct StockToolsTests {
    let tools = StockTools.all()

    private func call(_ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        try await tools.tool(named: name).call(json: arguments)
    }

    @Test func historyMatchesTheDeclaredSymbolsAndRange() {
        #expect(Set(ReferenceData.closes.keys) == Set(PriceHistory.symbols))
        for (_, closes) in ReferenceData.closes {
            #expect(closes.first?.date == PriceHistory.firstDate)
            #expect(closes.last?.date == PriceHistory.lastDate)
            #expect(closes.count > 250)
        }
    }

    @Test func lastPriceIsTheLatestClose() async throws {
        let result = try await call("last_price", ["symbol": "aapl"])
        let closes = ReferenceData.closes["AAPL"]!
        #expect(result["close"]?.doubleValue == closes.last!.close)
        #expect(result["previous_close"]?.doubleValue == closes[closes.count - 2].close)
        let onDay = try await call("last_price", ["symbol": "AAPL", "date": "2024-06-15"])  // a Saturday
        #expect(onDay["date"] == "2024-06-14")
    }

    @Test func priceChangeOverDaysAndDates() async throws {
        let closes = ReferenceData.closes["NVDA"]!
        let days = try await call("price_change", ["symbol": "NVDA", "days": 30])
        #expect(days["start_close"]?.doubleValue == closes[closes.count - 31].close)
        #expect(days["end_close"]?.doubleValue == closes.last!.close)
        let dates = try await call(
            "price_change",
            ["symbol": "NVDA", "start_date": "2024-03-01", "end_date": "2024-03-31"]
        )
        #expect(dates["start_date"] == .string(closes.first { $0.date >= "2024-03-01" }!.date))
        #expect(dates["end_date"] == .string(closes.last { $0.date <= "2024-03-31" }!.date))
    }

    @Test func movingAverageAveragesTheWindow() async throws {
        let closes = ReferenceData.closes["MSFT"]!
        let result = try await call("moving_average", ["symbol": "MSFT", "window": 50])
        let expected = closes.suffix(50).map(\.close).reduce(0, +) / 50
        #expect(abs((result["average"]?.doubleValue ?? 0) - expected) < 1e-9)
        #expect(result["above_average"]?.boolValue == (closes.last!.close > expected))
    }

    @Test func compareSaysWhichDidBetter() async throws {
        let result = try await call("compare_symbols", ["symbol_a": "TSLA", "symbol_b": "META", "days": 90])
        let a = result["a"]?["change_percent"]?.doubleValue ?? 0
        let b = result["b"]?["change_percent"]?.doubleValue ?? 0
        #expect(result["better"] == .string(a >= b ? "TSLA" : "META"))
    }

    @Test func badArgumentsAreRejectedClearly() async {
        let unknown = await #expect(throws: ToolError.self) { try await call("last_price", ["symbol": "XYZ"]) }
        #expect(unknown?.message.contains("AAPL, MSFT, GOOGL, AMZN, NVDA, TSLA, META, NFLX") == true)
        let window = await #expect(throws: ToolError.self) {
            try await call("moving_average", ["symbol": "AAPL", "window": 100_000])
        }
        #expect(window?.message.contains("at most 250") == true)
        let both = await #expect(throws: ToolError.self) {
            try await call("price_change", ["symbol": "AAPL", "days": 5, "start_date": "2024-05-01"])
        }
        #expect(both?.message.contains("either start_date or days") == true)
        let same = await #expect(throws: ToolError.self) {
            try await call("compare_symbols", ["symbol_a": "AAPL", "symbol_b": "aapl"])
        }
        #expect(same?.code == .invalidArguments)
        let early = await #expect(throws: ToolError.self) {
            try await call("last_price", ["symbol": "AAPL", "date": "2020-01-01"])
        }
        #expect(early?.code == .notFound)
        let missing = await #expect(throws: ToolError.self) { try await call("price_change", [:]) }
        #expect(missing?.message.contains("missing required parameter 'symbol'") == true)
    }
}

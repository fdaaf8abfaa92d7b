import FlowCore

/// Helpers the stock tools share: symbol lookup and period resolution over a symbol's bars.
struct PriceSeries {
    let symbol: String
    let bars: [PriceBar]

    static var symbolParameter: ToolParameter {
        ToolParameter("symbol", .string, "Ticker symbol", required: true, allowedValues: PriceHistory.symbols)
    }

    static var periodParameters: [ToolParameter] {
        let coverage = (PriceHistory.firstDate, PriceHistory.lastDate)
        return [
            ToolParameter(
                "start_date",
                .date,
                "First day, YYYY-MM-DD (data: \(PriceHistory.firstDate) to \(PriceHistory.lastDate))",
                coverage: coverage
            ),
            ToolParameter(
                "end_date",
                .date,
                "Last day, YYYY-MM-DD (default: the last trading day)",
                coverage: coverage
            ),
            ToolParameter(
                "days",
                .integer,
                "Trading days back from end_date, instead of start_date (default 30)",
                minimum: 1,
                maximum: 500
            ),
        ]
    }

    static func load(_ symbol: String, from history: PriceHistory, tool: String) async throws -> PriceSeries {
        let bars = try await history.bars(for: symbol)
        guard !bars.isEmpty else {
            throw ToolError(
                .notFound,
                "\(tool): no prices for '\(symbol.prefix(20))'; known symbols: \(PriceHistory.symbols.joined(separator: ", "))"
            )
        }
        return PriceSeries(symbol: symbol, bars: bars)
    }

    /// The index of the last bar on or before `date` (the last bar when `date` is nil).
    func index(onOrBefore date: String?, tool: String) throws(ToolError) -> Int {
        guard let date else { return bars.count - 1 }
        guard let i = bars.lastIndex(where: { $0.date <= date }) else {
            throw ToolError(
                .notFound,
                "\(tool): no \(symbol) prices on or before \(date); data starts \(bars[0].date)"
            )
        }
        return i
    }

    /// The first and last bar indices of the period given by `start_date`/`end_date` or `days`.
    func period(_ arguments: ToolArguments, tool: String) throws(ToolError) -> (start: Int, end: Int) {
        let startDate = arguments.string("start_date")
        let days = arguments.int("days")
        if startDate != nil, days != nil {
            throw ToolError(.invalidArguments, "\(tool): give either start_date or days, not both")
        }
        let end = try index(onOrBefore: arguments.string("end_date"), tool: tool)
        if let startDate {
            if let endDate = arguments.string("end_date"), startDate > endDate {
                throw ToolError(
                    .invalidArguments,
                    "\(tool): start_date \(startDate) is after end_date \(endDate); expected start_date <= end_date"
                )
            }
            guard let start = bars.firstIndex(where: { $0.date >= startDate }), start <= end else {
                throw ToolError(
                    .notFound,
                    "\(tool): no \(symbol) trading days in that period; data covers \(bars[0].date) to "
                        + "\(bars[bars.count - 1].date)"
                )
            }
            return (start, end)
        }
        let back = days ?? 30
        guard end - back >= 0 else {
            throw ToolError(
                .notFound,
                "\(tool): only \(end) trading days of \(symbol) before \(bars[end].date); asked for \(back)"
            )
        }
        return (end - back, end)
    }

    /// Change of the close from `start` to `end`.
    func change(_ start: Int, _ end: Int) -> JSONValue {
        let first = bars[start].close
        let last = bars[end].close
        let slice = bars[start...end]
        return [
            "symbol": .string(symbol),
            "start_date": .string(bars[start].date),
            "start_close": .double(first),
            "end_date": .string(bars[end].date),
            "end_close": .double(last),
            "change": .double(last - first),
            "change_percent": .double((last - first) / first * 100),
            "high": .double(slice.map(\.high).max() ?? last),
            "low": .double(slice.map(\.low).min() ?? last),
            "trading_days": .int(end - start),
        ]
    }
}

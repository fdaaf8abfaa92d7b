import FlowCore

/// `last_price`: the latest close of a symbol (or the close on a given day) and its daily change.
public struct LastPriceTool: Tool {
    private let history: PriceHistory

    public init(history: PriceHistory = .shared) {
        self.history = history
    }

    public var name: String { "last_price" }
    public var description: String {
        "The latest closing price of a symbol (or the close on or before a given date), with the day's "
            + "open, high, low, volume and change from the previous close."
    }
    public var schema: ToolSchema {
        ToolSchema([PriceSeries.symbolParameter, ToolParameter("date", .date, "Day, YYYY-MM-DD (default: latest)")])
    }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let series = try await PriceSeries.load(arguments.string("symbol") ?? "", from: history, tool: name)
        let i = try series.index(onOrBefore: arguments.string("date"), tool: name)
        let bar = series.bars[i]
        var result: [String: JSONValue] = [
            "symbol": .string(series.symbol), "date": .string(bar.date), "close": .double(bar.close),
            "open": .double(bar.open), "high": .double(bar.high), "low": .double(bar.low),
            "volume": .int(bar.volume),
        ]
        if i > 0 {
            let previous = series.bars[i - 1].close
            result["previous_close"] = .double(previous)
            result["change"] = .double(bar.close - previous)
            result["change_percent"] = .double((bar.close - previous) / previous * 100)
        }
        return .object(result)
    }
}

import FlowCore

/// `price_change`: how a symbol's close moved over a period.
public struct PriceChangeTool: Tool {
    private let history: PriceHistory

    public init(history: PriceHistory = .shared) {
        self.history = history
    }

    public var name: String { "price_change" }
    public var description: String {
        "Change of a symbol's closing price over a period (start_date/end_date, or the last N trading "
            + "days), in USD and percent, with the period's high and low."
    }
    public var schema: ToolSchema { ToolSchema([PriceSeries.symbolParameter] + PriceSeries.periodParameters) }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let series = try await PriceSeries.load(arguments.string("symbol") ?? "", from: history, tool: name)
        let (start, end) = try series.period(arguments, tool: name)
        return series.change(start, end)
    }
}

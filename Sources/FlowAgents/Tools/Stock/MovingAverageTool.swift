import FlowCore

/// `moving_average`: the simple moving average of a symbol's close over a window of trading days.
public struct MovingAverageTool: Tool {
    private let history: PriceHistory

    public init(history: PriceHistory = .shared) {
        self.history = history
    }

    public var name: String { "moving_average" }
    public var description: String {
        "Simple moving average of a symbol's closing price over the last `window` trading days ending on a "
            + "date (default: the latest), and whether the close is above it."
    }
    public var schema: ToolSchema {
        ToolSchema([
            PriceSeries.symbolParameter,
            ToolParameter("window", .integer, "Window in trading days (default 20)", minimum: 2, maximum: 250),
            ToolParameter("date", .date, "Last day of the window, YYYY-MM-DD (default: latest)"),
        ])
    }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let series = try await PriceSeries.load(arguments.string("symbol") ?? "", from: history, tool: name)
        let window = arguments.int("window") ?? 20
        let end = try series.index(onOrBefore: arguments.string("date"), tool: name)
        guard end + 1 >= window else {
            throw ToolError(
                .notFound,
                "\(name): only \(end + 1) trading days of \(series.symbol) up to \(series.bars[end].date); "
                    + "window is \(window)"
            )
        }
        let closes = series.bars[(end + 1 - window)...end].map(\.close)
        let average = closes.reduce(0, +) / Double(window)
        let close = series.bars[end].close
        return [
            "symbol": .string(series.symbol), "window": .int(window), "date": .string(series.bars[end].date),
            "from_date": .string(series.bars[end + 1 - window].date), "average": .double(average),
            "close": .double(close), "above_average": .bool(close > average),
        ]
    }
}

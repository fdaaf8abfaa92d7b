import FlowCore

/// `compare_symbols`: how two symbols performed over the same period.
public struct CompareSymbolsTool: Tool {
    private let history: PriceHistory

    public init(history: PriceHistory = .shared) {
        self.history = history
    }

    public var name: String { "compare_symbols" }
    public var description: String {
        "Compare two symbols' percentage change over the same period (start_date/end_date, or the last N "
            + "trading days) and say which did better."
    }
    public var schema: ToolSchema {
        ToolSchema(
            [
                ToolParameter("symbol_a", .string, "First ticker", required: true, allowedValues: PriceHistory.symbols),
                ToolParameter(
                    "symbol_b",
                    .string,
                    "Second ticker",
                    required: true,
                    allowedValues: PriceHistory.symbols
                ),
            ] + PriceSeries.periodParameters
        )
    }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let a = arguments.string("symbol_a") ?? ""
        let b = arguments.string("symbol_b") ?? ""
        guard a != b else {
            throw ToolError(.invalidArguments, "\(name): symbol_a and symbol_b are both \(a); expected two symbols")
        }
        let seriesA = try await PriceSeries.load(a, from: history, tool: name)
        let seriesB = try await PriceSeries.load(b, from: history, tool: name)
        let (startA, endA) = try seriesA.period(arguments, tool: name)
        let (startB, endB) = try seriesB.period(arguments, tool: name)
        let changeA = seriesA.change(startA, endA)
        let changeB = seriesB.change(startB, endB)
        let pa = changeA["change_percent"]?.doubleValue ?? 0
        let pb = changeB["change_percent"]?.doubleValue ?? 0
        return [
            "a": changeA, "b": changeB, "better": .string(pa >= pb ? a : b),
            "difference_percent_points": .double(abs(pa - pb)),
        ]
    }
}

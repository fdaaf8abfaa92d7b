/// The tools of `stock_agent`.
public enum StockTools {
    /// `last_price`, `price_change`, `moving_average` and `compare_symbols` over `history`.
    public static func all(history: PriceHistory = .shared) -> Toolbox {
        Toolbox([
            LastPriceTool(history: history),
            PriceChangeTool(history: history),
            MovingAverageTool(history: history),
            CompareSymbolsTool(history: history),
        ])
    }
}

import FlowCore

/// `stock_agent`: answers questions about daily price history with analysis tools.
public enum StockAgent {
    /// The agent's name and default namespace.
    public static let name = "stock_agent"

    /// The system message that opens each conversation.
    public static let systemPrompt = """
        You are a market analyst. Answer questions about daily prices from \(PriceHistory.firstDate) to \
        \(PriceHistory.lastDate) using the tools; quote the figures they return. Symbols: \
        \(PriceHistory.symbols.joined(separator: ", ")). The data is synthetic.
        """

    /// The agent's flow.
    ///
    /// - Parameters:
    ///   - provider: The model.
    ///   - history: The price history; the shipped data set by default.
    ///   - maxSteps: The most tool rounds before the answer is forced.
    public static func makeFlow(
        provider: any LLMProvider,
        history: PriceHistory = .shared,
        maxSteps: Int = 5
    ) -> Flow {
        AgentFlow.make(
            name: name,
            provider: provider,
            toolbox: StockTools.all(history: history),
            systemPrompt: systemPrompt,
            maxSteps: maxSteps
        )
    }

    /// The agent as a registry entry.
    public static let descriptor = AgentDescriptor(
        name: name,
        defaultNamespace: name,
        summary: "Answers questions about stock prices: last price, change, moving average, comparisons.",
        exampleInput: ["question": "How did NVDA perform over the last 30 days?"],
        makeFlow: { makeFlow(provider: $0) }
    )
}

import FlowCore

/// `sales_agent`: answers questions about the sales data set with SQL-backed tools.
///
/// ```swift
/// let result = try await SalesAgent.descriptor.ask("Top 3 products in 2024?") { event in print(event.type) }
/// print(AgentDescriptor.answer(from: result) ?? "")
/// ```
public enum SalesAgent {
    /// The agent's name and default namespace.
    public static let name = "sales_agent"

    /// The system message that opens each conversation.
    public static let systemPrompt = """
        You are a sales analyst. Answer questions about the company's orders from \(SalesCatalog.firstDate) to \
        \(SalesCatalog.lastDate) using the tools; quote the figures they return, in USD. Regions: \
        \(SalesCatalog.regions.joined(separator: ", ")). Products: \(SalesCatalog.products.joined(separator: ", ")).
        """

    /// The agent's flow.
    ///
    /// - Parameters:
    ///   - provider: The model.
    ///   - database: The sales database; the shipped data set by default.
    ///   - maxSteps: The most tool rounds before the answer is forced.
    public static func makeFlow(
        provider: any LLMProvider,
        database: SalesDatabase = .shared,
        maxSteps: Int = 5
    ) -> Flow {
        AgentFlow.make(
            name: name,
            provider: provider,
            toolbox: SalesTools.all(database: database),
            systemPrompt: systemPrompt,
            maxSteps: maxSteps
        )
    }

    /// The agent as a registry entry.
    public static let descriptor = AgentDescriptor(
        name: name,
        defaultNamespace: name,
        summary: "Answers questions about sales: totals, top products, by region, by month.",
        exampleInput: ["question": "What were total sales in the North region in March 2024?"],
        makeFlow: { makeFlow(provider: $0) }
    )
}

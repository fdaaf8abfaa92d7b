/// The agents FlowAgents ships, by name.
public enum Agents {
    /// `sales_agent` and `stock_agent`.
    public static let all: [AgentDescriptor] = [SalesAgent.descriptor, StockAgent.descriptor]

    /// The agent named `name`.
    ///
    /// - Throws: ``AgentError`` with code `.unknownAgent`, listing the known agents.
    public static func named(_ name: String) throws(AgentError) -> AgentDescriptor {
        guard let agent = all.first(where: { $0.name == name }) else {
            throw AgentError(
                .unknownAgent,
                "no agent named '\(name.prefix(60))'; known: \(all.map(\.name).joined(separator: ", "))"
            )
        }
        return agent
    }
}

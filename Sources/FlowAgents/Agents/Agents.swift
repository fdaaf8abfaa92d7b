import FlowCore

/// The agents FlowAgents ships, by name.
public enum Agents {
    /// The real agents: `sales_agent` and `stock_agent`.
    public static let all: [AgentDescriptor] = [SalesAgent.descriptor, StockAgent.descriptor]

    /// The `agent4` reference workload (FlowCore's ``Agent4``) as a registry entry: same input and result
    /// shape as the agents, no model, no tools, thirteen events per run. The provider is ignored.
    public static let agent4 = AgentDescriptor(
        name: Agent4.flowName,
        defaultNamespace: "sales_agent",
        summary: "The reference benchmark workload: four nodes, thirteen events, no network.",
        exampleInput: ["question": "What were total sales last month?"],
        makeFlow: { _ in Agent4.makeFlow() }
    )

    /// The agent named `name`: one of ``all``, or `agent4`.
    ///
    /// - Throws: ``AgentError`` with code `.unknownAgent`, listing the known agents.
    public static func named(_ name: String) throws(AgentError) -> AgentDescriptor {
        guard let agent = (all + [agent4]).first(where: { $0.name == name }) else {
            throw AgentError(
                .unknownAgent,
                "no agent named '\(name.prefix(60))'; known: \((all + [agent4]).map(\.name).joined(separator: ", "))"
            )
        }
        return agent
    }
}

import Foundation

/// Locations of the data files shipped with FlowAgents.
public enum AgentData {
    /// `sales.csv`: the synthetic order history behind `sales_agent`.
    public static var salesCSV: URL { resource("sales.csv") }
    /// `prices.csv`: the synthetic daily price history behind `stock_agent`.
    public static var pricesCSV: URL { resource("prices.csv") }

    private static func resource(_ name: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Resources").appendingPathComponent(name)
    }
}

import Foundation

/// Locations of the data files shipped with FlowAgents.
public enum AgentData {
    /// `sales.csv`: the synthetic order history behind `sales_agent`.
    public static var salesCSV: URL { resource("sales", "csv") }
    /// `prices.csv`: the synthetic daily price history behind `stock_agent`.
    public static var pricesCSV: URL { resource("prices", "csv") }

    private static func resource(_ name: String, _ ext: String) -> URL {
        if let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Resources") {
            return url
        }
        // Bundles whose resource URL already ends in the copied folder.
        return Bundle.module.bundleURL.appendingPathComponent("Resources").appendingPathComponent("\(name).\(ext)")
    }
}

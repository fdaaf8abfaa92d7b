import Foundation

/// Daily price history per symbol, loaded from CSV once on a dedicated queue and then read from memory.
public final class PriceHistory: Sendable {
    /// The symbols of the shipped data set.
    public static let symbols = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "META", "NFLX"]
    /// The first trading day of the shipped data set.
    public static let firstDate = "2024-01-02"
    /// The last trading day of the shipped data set.
    public static let lastDate = "2025-12-31"

    /// The process-wide history over the shipped data set.
    public static let shared = PriceHistory()

    private let csvURL: URL
    private let worker = BlockingQueue(label: "flowpool.price-history")
    /// Loaded bars; written and read only on `worker`'s serial queue.
    private let cache = BarsBox()

    /// A history over `csv` (the shipped data set by default).
    public init(csv: URL? = nil) {
        self.csvURL = csv ?? AgentData.pricesCSV
    }

    /// All bars of `symbol`, oldest first; empty when the symbol is unknown.
    public func bars(for symbol: String) async throws -> [PriceBar] {
        try await worker.run { [self] in
            try loaded()[symbol] ?? []
        }
    }

    private func loaded() throws -> [String: [PriceBar]] {
        if let bars = cache.bars { return bars }
        let text = try String(contentsOf: csvURL, encoding: .utf8)
        var bars: [String: [PriceBar]] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            guard f.count == 7, let open = Double(f[2]), let high = Double(f[3]), let low = Double(f[4]),
                let close = Double(f[5]), let volume = Int(f[6])
            else {
                throw ToolError(.failed, "malformed price row: \(line)")
            }
            bars[String(f[1]), default: []].append(
                PriceBar(date: String(f[0]), open: open, high: high, low: low, close: close, volume: volume)
            )
        }
        for key in bars.keys { bars[key]!.sort { $0.date < $1.date } }
        cache.bars = bars
        return bars
    }
}

/// Holds the loaded bars of a ``PriceHistory``.
///
/// `@unchecked Sendable` is safe: `bars` is read and written only on the owning history's serial queue.
private final class BarsBox: @unchecked Sendable {
    var bars: [String: [PriceBar]]?
}

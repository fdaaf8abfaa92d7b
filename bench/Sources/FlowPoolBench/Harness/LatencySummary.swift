import Histogram

/// Percentiles of one latency distribution, in milliseconds, from an HdrHistogram of nanoseconds.
struct LatencySummary: Sendable, Codable, Equatable {
    var count: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double
    /// The distribution for plotting: (percentile, ms) at 0, 10, …, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100.
    var distribution: [[Double]]

    enum CodingKeys: String, CodingKey {
        case count, p50, p90, p99, max, mean, distribution
        case p999 = "p99_9"
    }

    static let plottedPercentiles: [Double] = [
        0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100,
    ]

    /// A histogram for nanosecond latencies up to 10 minutes, 3 significant digits.
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: 1_000,
            highestTrackableValue: 600_000_000_000,
            numberOfSignificantValueDigits: .three
        )
    }

    init(_ h: Histogram<UInt64>) {
        count = Int(h.totalCount)
        func ms(_ v: UInt64) -> Double { Double(v) / 1e6 }
        if h.totalCount == 0 {
            p50 = 0
            p90 = 0
            p99 = 0
            p999 = 0
            max = 0
            mean = 0
            distribution = []
            return
        }
        p50 = ms(h.valueAtPercentile(50))
        p90 = ms(h.valueAtPercentile(90))
        p99 = ms(h.valueAtPercentile(99))
        p999 = ms(h.valueAtPercentile(99.9))
        max = ms(h.max)
        mean = h.mean / 1e6
        distribution = Self.plottedPercentiles.map { [$0, ms(h.valueAtPercentile($0))] }
    }
}

/// One trading day of one symbol.
public struct PriceBar: Sendable, Hashable {
    /// The trading day, `YYYY-MM-DD`.
    public var date: String
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Int

    public init(date: String, open: Double, high: Double, low: Double, close: Double, volume: Int) {
        self.date = date
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }
}

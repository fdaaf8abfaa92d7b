import Synchronization

/// Creates run ids that are unique within a process and, with high probability, across processes.
public enum RunID {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let high = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - high.utf8.count) + high
    }()
    private static let counter = Atomic<UInt64>(0)

    /// A new id: a random per-process prefix and a counter, such as `3f9c…a1-2f`.
    public static func make() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return prefix + "-" + String(n, radix: 16)
    }
}

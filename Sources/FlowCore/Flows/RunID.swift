import Synchronization

/// Creates run ids that are unique within a process and, with high probability, across processes.
///
/// An id is a random 7-character per-process prefix and a counter, both in base 62, at most 15 characters:
/// short enough to be stored inline by `String`, so events carry it without reference counting.
public enum RunID {
    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    private static let prefix: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<7).map { _ in digits[Int(generator.next(upperBound: UInt64(62)))] }
    }()

    private static let counter = Atomic<UInt64>(0)

    /// A new id, such as `k3ZfQ0a1b`.
    public static func make() -> String {
        var n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 15) { buffer in
            var length = 0
            for byte in prefix {
                buffer[length] = byte
                length += 1
            }
            let start = length
            repeat {
                buffer[length] = digits[Int(n % 62)]
                n /= 62
                length += 1
            } while n > 0 && length < 15
            buffer[start..<length].reverse()
            return length
        }
    }
}

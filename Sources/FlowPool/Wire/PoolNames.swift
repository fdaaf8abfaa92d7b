/// The rules for namespaces and run ids on the wire.
///
/// Both are 1–128 bytes of UTF-8 without `/`, `*`, spaces or control characters, so that a topic splits
/// unambiguously and a subscription prefix never matches by accident.
public enum PoolNames {
    /// The longest namespace or run id accepted, in bytes.
    public static let maxNameBytes = 128
    /// The longest topic accepted, in bytes.
    public static let maxTopicBytes = 512

    /// Why `namespace` is not acceptable, or nil when it is.
    public static func problem(namespace: String) -> String? { problem(namespace, "namespace") }

    /// Why `runId` is not acceptable, or nil when it is.
    public static func problem(runId: String) -> String? { problem(runId, "run id") }

    private static func problem(_ name: String, _ what: String) -> String? {
        if name.isEmpty { return "\(what) is empty" }
        if name.utf8.count > maxNameBytes { return "\(what) is longer than \(maxNameBytes) bytes" }
        for b in name.utf8 where b <= 0x20 || b == UInt8(ascii: "/") || b == UInt8(ascii: "*") || b == 0x7F {
            return "\(what) \"\(name.prefix(40))\" contains a '/', '*', space or control character"
        }
        return nil
    }
}

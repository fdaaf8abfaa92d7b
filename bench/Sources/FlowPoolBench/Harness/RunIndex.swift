/// How the harness names its runs: `<token>-<12 digits>`, the digits being the run's index in the phase.
///
/// The same string is the submit request's id and the run id, so a result and an event map to their run
/// without a table, and a subscription to `<namespace>/<token>-` sees this phase's runs only.
struct RunIndex: Sendable {
    static let digits = 12

    /// A random token unique to one phase of one harness process.
    let token: String
    /// `<namespace>/<token>-`, the topic prefix of every event of the phase.
    let topicPrefix: [UInt8]

    init(namespace: String) {
        var generator = SystemRandomNumberGenerator()
        token = "b" + String(generator.next() as UInt64, radix: 36)
        topicPrefix = Array("\(namespace)/\(token)-".utf8)
    }

    /// The run id of index `i`.
    func runId(_ i: Int) -> String {
        let s = String(i)
        return token + "-" + String(repeating: "0", count: Self.digits - s.count) + s
    }

    /// The placeholder used in frame templates.
    var placeholder: String { token + "-" + String(repeating: "9", count: Self.digits) }

    /// Writes the digits of `i` into `bytes` at `offset` (the start of the 12 digits).
    @inline(__always)
    static func write(_ i: Int, into bytes: inout [UInt8], at offset: Int) {
        var v = i
        var p = offset + digits - 1
        while p >= offset {
            bytes[p] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
            p -= 1
        }
    }

    /// Reads 12 digits at `offset`, or nil when they are not digits.
    @inline(__always)
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Int? {
        guard bytes.count >= offset + digits else { return nil }
        var v = 0
        for p in offset..<(offset + digits) {
            let d = bytes[p] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v * 10 + Int(d)
        }
        return v
    }

    /// The index of a run id or request id of this phase.
    func index(of id: String) -> Int? {
        var id = id
        return id.withUTF8 { buf in
            guard buf.count == token.utf8.count + 1 + Self.digits else { return nil }
            return Self.read(buf, at: token.utf8.count + 1)
        }
    }
}

import FlowCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the coordinator needs from an event without decoding its content: run, attempt, seq, terminal or not.
///
/// ``scan(topic:envelope:)-(UnsafeRawBufferPointer,_)`` validates the whole envelope (strict JSON, required
/// fields, version, agreement with the topic) but builds nothing from `content`, so forwarding an event costs
/// one pass over its bytes.
/// Envelopes written by FlowPool (fields in the documented order, names without escapes) take a fast path
/// that compares the leading fields byte for byte; any other valid envelope takes the general path.
public struct EnvelopeHeader: Sendable, Hashable {
    /// The run key `<namespace>/<runId>`.
    public var runKey: String
    /// The attempt that produced the event.
    public var attempt: Int
    /// The event's position within its attempt, from 1.
    public var seq: Int
    /// Whether the event ends its run (`final`, `error` or `cancelled`).
    public var isTerminal: Bool

    /// Validates an event's two frames and extracts its header.
    /// - Throws: ``JSONWireError``.
    public static func scan(
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer
    ) throws(JSONWireError)
        -> EnvelopeHeader
    {
        let s = try Scanned(topic: topic, envelope: envelope)
        return EnvelopeHeader(
            runKey: String(decoding: s.runKey(topic), as: UTF8.self),
            attempt: s.attempt,
            seq: s.seq,
            isTerminal: s.isTerminal
        )
    }

    /// A validated header that refers to its run key in the topic's bytes instead of holding a string, so
    /// the coordinator's event path builds nothing per event.
    struct Scanned {
        /// The run key is the topic's first `runKeyCount` bytes.
        var runKeyCount: Int
        var attempt: Int
        var seq: Int
        var isTerminal: Bool

        /// Validates an event's two frames, as ``EnvelopeHeader/scan(topic:envelope:)`` does.
        init(topic: UnsafeRawBufferPointer, envelope: UnsafeRawBufferPointer) throws(JSONWireError) {
            let parts = try TopicParts(topic)
            if let fast = try fastScan(parts, topic: topic, envelope: envelope) {
                self = fast
            } else {
                self = try generalScan(parts, topic: topic, envelope: envelope)
            }
        }

        init(runKeyCount: Int, attempt: Int, seq: Int, isTerminal: Bool) {
            self.runKeyCount = runKeyCount
            self.attempt = attempt
            self.seq = seq
            self.isTerminal = isTerminal
        }

        /// The run key's bytes within `topic`.
        func runKey(_ topic: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: topic[0..<runKeyCount])
        }
    }

    /// Validates an event's two frames given as byte arrays.
    public static func scan(topic: [UInt8], envelope: [UInt8]) throws(JSONWireError) -> EnvelopeHeader {
        let r: Result<EnvelopeHeader, JSONWireError> = topic.withUnsafeBytes { t in
            envelope.withUnsafeBytes { e in
                Result { () throws(JSONWireError) -> EnvelopeHeader in try scan(topic: t, envelope: e) }
            }
        }
        return try r.get()
    }

    /// The positions of the two `/` in a topic, validated.
    struct TopicParts {
        let firstSlash: Int
        let secondSlash: Int
        let count: Int
        /// Whether a name contains `"` or `\`, which JSON escapes (the fast path then does not apply).
        let needsEscaping: Bool

        init(_ t: UnsafeRawBufferPointer) throws(JSONWireError) {
            guard t.count <= PoolNames.maxTopicBytes else {
                throw JSONWireError(.badField, "topic longer than \(PoolNames.maxTopicBytes) bytes")
            }
            let slash = UInt8(ascii: "/")
            // The slashes, found with memchr; then one branch-free pass over the bytes gathers their classes.
            guard let first = Self.index(of: slash, in: t, from: 0),
                let second = Self.index(of: slash, in: t, from: first + 1),
                Self.index(of: slash, in: t, from: second + 1) == nil, first > 0, second > first + 1,
                second < t.count - 1
            else {
                if let bad = Self.firstBadByte(t) { throw bad }
                throw JSONWireError(.badField, "topic must be <namespace>/<runId>/<type>")
            }
            let (names, type) = Self.byteClasses.withUnsafeBufferPointer { table in
                var names: UInt8 = 0
                for i in 0..<second { names |= table[Int(t[i])] }
                var type: UInt8 = 0
                for i in (second + 1)..<t.count { type |= table[Int(t[i])] }
                return (names, type)
            }
            // A '*' is refused in a name, not in the type.
            guard (names & (Self.invalid | Self.star)) == 0, (type & Self.invalid) == 0 else {
                throw JSONWireError(.badField, "topic contains a space, control character or '*' in a name")
            }
            guard first <= PoolNames.maxNameBytes, second - first - 1 <= PoolNames.maxNameBytes else {
                throw JSONWireError(.badField, "namespace or run id longer than \(PoolNames.maxNameBytes) bytes")
            }
            if ((names | type) & Self.high) != 0 && String(validating: t, as: UTF8.self) == nil {
                throw JSONWireError(.badField, "topic is not valid UTF-8")
            }
            firstSlash = first
            secondSlash = second
            count = t.count
            needsEscaping = ((names | type) & Self.escaped) != 0
        }

        /// Byte classes: a space or control character, `*`, a byte of a multi-byte character, `"` or `\\`.
        private static let invalid: UInt8 = 1
        private static let star: UInt8 = 2
        private static let high: UInt8 = 4
        private static let escaped: UInt8 = 8
        private static let byteClasses: [UInt8] = (0...255).map { b -> UInt8 in
            if b <= 0x20 || b == 0x7F { return invalid }
            if b == 0x2A { return star }
            if b >= 0x80 { return high }
            if b == 0x22 || b == 0x5C { return escaped }
            return 0
        }

        private static func index(of byte: UInt8, in t: UnsafeRawBufferPointer, from start: Int) -> Int? {
            guard start < t.count, let base = t.baseAddress,
                let found = memchr(base + start, Int32(byte), t.count - start)
            else { return nil }
            return UnsafeRawPointer(found) - base
        }

        /// For a topic without the right slashes: the error a scan from its start meets first, if it is about
        /// a byte (as the byte-by-byte reading reported it, before it counted the slashes).
        private static func firstBadByte(_ t: UnsafeRawBufferPointer) -> JSONWireError? {
            var slashes = 0
            for b in t {
                if b == UInt8(ascii: "/") {
                    slashes += 1
                    if slashes > 2 { return nil }
                } else if b <= 0x20 || b == 0x7F || (b == UInt8(ascii: "*") && slashes < 2) {
                    return JSONWireError(.badField, "topic contains a space, control character or '*' in a name")
                }
            }
            return nil
        }

        func isTerminal(_ t: UnsafeRawBufferPointer) -> Bool {
            let type = UnsafeRawBufferPointer(rebasing: t[(secondSlash + 1)..<count])
            return type.hasSameBytes(as: "final") || type.hasSameBytes(as: "error")
                || type.hasSameBytes(as: "cancelled")
        }
    }

    // MARK: Fast path

    private static func fastScan(
        _ parts: TopicParts,
        topic t: UnsafeRawBufferPointer,
        envelope e: UnsafeRawBufferPointer
    )
        throws(JSONWireError) -> Scanned?
    {
        guard !parts.needsEscaping else { return nil }
        var i = 0
        func literal(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard i + n <= e.count, UnsafeRawBufferPointer(rebasing: e[i..<(i + n)]).hasSameBytes(as: s) else {
                return false
            }
            i += n
            return true
        }
        func bytes(_ range: Range<Int>) -> Bool {
            let n = range.count
            guard i + n <= e.count,
                UnsafeRawBufferPointer(rebasing: e[i..<(i + n)]).hasSameBytes(
                    as: UnsafeRawBufferPointer(rebasing: t[range])
                )
            else { return false }
            i += n
            return true
        }
        func number() -> Int? {
            var value = 0
            let start = i
            while i < e.count, e[i] >= UInt8(ascii: "0"), e[i] <= UInt8(ascii: "9"), i - start < 16 {
                value = value * 10 + Int(e[i] - UInt8(ascii: "0"))
                i += 1
            }
            guard i > start, !(e[start] == UInt8(ascii: "0") && i - start > 1), value <= PoolProtocol.maxInteger
            else { return nil }
            return value
        }
        guard literal("{\"v\":1,\"ns\":\""), bytes(0..<parts.firstSlash), literal("\",\"run\":\""),
            bytes((parts.firstSlash + 1)..<parts.secondSlash), literal("\",\"attempt\":"), let attempt = number(),
            literal(",\"seq\":"), let seq = number(), literal(",\"type\":\""),
            bytes((parts.secondSlash + 1)..<parts.count), literal("\",")
        else { return nil }
        guard attempt >= 1, (1...PoolProtocol.maxWorkerSeq).contains(seq) else { return nil }
        // The rest, as FlowPool writes it: "node" (a string), "ts" (a number), "content", then the end. Each
        // value is validated strictly; anything else (other order, unknown fields, white space) takes the
        // general path, which validates it field by field.
        guard literal("\"node\":") else { return nil }
        var p = JSONParser(e, index: i)
        guard try p.peek() == UInt8(ascii: "\"") else { return nil }
        try p.skipString()
        i = p.index
        guard literal(",\"ts\":") else { return nil }
        p.index = i
        let b = try p.peek()
        guard b == UInt8(ascii: "-") || JSONParser.isDigit(b) else { return nil }
        _ = try p.scanNumber()
        i = p.index
        guard literal(",\"content\":") else { return nil }
        p.index = i
        try p.skipValue(depth: 1)
        guard try p.peek() == UInt8(ascii: "}") else { return nil }
        p.index += 1
        try p.expectEnd()
        return Scanned(runKeyCount: parts.secondSlash, attempt: attempt, seq: seq, isTerminal: parts.isTerminal(t))
    }

    // MARK: General path

    /// Anything the fast path does not take: the envelope is read by the one general envelope reader, the one
    /// clients use (``WireEvent/decodeEnvelope(_:topic:)``), and its `seq` checked against the bound of a
    /// worker's events.
    private static func generalScan(
        _ parts: TopicParts,
        topic t: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer
    ) throws(JSONWireError) -> Scanned {
        let wire = try WireEvent.decodeEnvelope(envelope, topic: try EventTopic.parse(t))
        guard wire.event.seq <= UInt64(PoolProtocol.maxWorkerSeq) else {
            throw MessageFields.outOfRange("envelope", "seq", 1, PoolProtocol.maxWorkerSeq)
        }
        return Scanned(
            runKeyCount: parts.secondSlash,
            attempt: wire.attempt,
            seq: Int(wire.event.seq),
            isTerminal: parts.isTerminal(t)
        )
    }
}

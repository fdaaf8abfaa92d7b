import FlowCore

/// What the coordinator needs from an event without decoding its content: run, attempt, seq, type.
///
/// ``scan(topic:envelope:)`` validates the whole envelope (strict JSON, required fields, version, agreement
/// with the topic) but builds nothing from `content`, so forwarding an event costs one pass over its bytes.
public struct EnvelopeHeader: Sendable, Hashable {
    /// The parsed topic.
    public var topic: EventTopic
    /// The attempt that produced the event.
    public var attempt: Int
    /// The event's position within its attempt, from 1.
    public var seq: Int

    /// Whether the event ends its run (`final`, `error` or `cancelled`).
    public var isTerminal: Bool { topic.type == "final" || topic.type == "error" || topic.type == "cancelled" }

    /// Validates an event's two frames and extracts its header.
    /// - Throws: ``JSONWireError``.
    public static func scan(topic: UnsafeRawBufferPointer, envelope: UnsafeRawBufferPointer) throws(JSONWireError)
        -> EnvelopeHeader
    {
        let topic = try EventTopic.parse(topic)
        var p = JSONParser(envelope)
        var fields = JSONParser.ObjectFields(known: WireEvent.envelopeKeys)
        var v: Int?
        var ns: String?
        var run: String?
        var attempt: Int?
        var seq: Int?
        var type: String?
        var hasNode = false
        var hasTs = false
        var hasContent = false
        try p.forEachField(&fields) { (key, p) throws(JSONWireError) in
            switch key {
            case "v": v = try p.parseValue(depth: 1).intValue
            case "ns": ns = try p.parseValue(depth: 1).stringValue
            case "run": run = try p.parseValue(depth: 1).stringValue
            case "attempt": attempt = try p.parseValue(depth: 1).intValue
            case "seq": seq = try p.parseValue(depth: 1).intValue
            case "type": type = try p.parseValue(depth: 1).stringValue
            case "node":
                hasNode = try p.peek() == UInt8(ascii: "\"")
                try p.skipValue(depth: 1)
            case "ts":
                let b = try p.peek()
                hasTs = b == UInt8(ascii: "-") || JSONParser.isDigit(b)
                try p.skipValue(depth: 1)
            case "content":
                hasContent = true
                try p.skipValue(depth: 1)
            default: try p.skipValue(depth: 1)
            }
        }
        try p.expectEnd()
        guard let v else { throw JSONWireError(.badField, "envelope field \"v\" must be an integer") }
        guard v == 1 else { throw JSONWireError(.unsupportedVersion, "envelope version \(v) is not supported (1 is)") }
        guard let attempt, attempt >= 1 else {
            throw JSONWireError(.badField, "envelope field \"attempt\" must be an integer ≥ 1")
        }
        guard let seq, seq >= 1 else { throw JSONWireError(.badField, "envelope field \"seq\" must be an integer ≥ 1") }
        guard hasNode, hasTs, hasContent else {
            throw JSONWireError(.badField, "envelope needs \"node\" (string), \"ts\" (number) and \"content\"")
        }
        guard ns == topic.namespace, run == topic.runId, type == topic.type else {
            throw JSONWireError(.badField, "topic \(topic.text) disagrees with the envelope's ns/run/type")
        }
        return EnvelopeHeader(topic: topic, attempt: attempt, seq: seq)
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
}

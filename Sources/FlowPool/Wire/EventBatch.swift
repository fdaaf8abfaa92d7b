/// Several events in one ZeroMQ message, as workers send them to the coordinator's event ingest.
///
/// Two frames: the marker `"\u{0}batch"` and the packed events, each as a little-endian `UInt32` topic
/// length, the topic, a little-endian `UInt32` envelope length and the envelope. The coordinator unpacks
/// a batch and validates each event; it publishes them as plain two-frame events and, to subscribers that
/// ask for them, repacked per namespace in the same packing (``EventPublisher``).
public enum EventBatch {
    /// The first frame of a batch message (a topic no event can have: it starts with a zero byte).
    public static let marker: [UInt8] = Array("\u{0}batch".utf8)
    /// The topic prefix of the batches the coordinator publishes to subscribers: a namespace's batch has the
    /// topic `"\u{1}batch/" + ns + "/"` (docs/PROTOCOL.md, "Batched delivery").
    public static let subscriberTopicPrefix: [UInt8] = Array("\u{1}batch/".utf8)

    /// Most events packed into one message.
    public static let maxEvents = 256
    /// Most bytes packed into one message.
    public static let maxBytes = 256 * 1024

    /// Appends one event, packed, to a batch body.
    public static func append(_ raw: RawEvent, to body: inout [UInt8]) {
        append(UInt32(raw.topic.count), to: &body)
        body += raw.topic
        append(UInt32(raw.envelope.count), to: &body)
        body += raw.envelope
    }

    /// Unpacks a batch body into its events' frames.
    /// - Throws: ``JSONWireError`` (`bad_field`) when a length runs past the end of the body.
    public static func unpack(_ body: [UInt8]) throws(JSONWireError) -> [RawEvent] {
        var events: [RawEvent] = []
        var i = 0
        while i < body.count {
            let topicLength = try length(body, at: i)
            let topicStart = i + 4
            let envelopeAt = topicStart + topicLength
            let envelopeLength = try length(body, at: envelopeAt)
            let envelopeStart = envelopeAt + 4
            let end = envelopeStart + envelopeLength
            guard end <= body.count else { throw JSONWireError(.badField, "event batch truncated at byte \(i)") }
            events.append(
                RawEvent(topic: Array(body[topicStart..<envelopeAt]), envelope: Array(body[envelopeStart..<end]))
            )
            i = end
        }
        return events
    }

    private static func length(_ body: [UInt8], at i: Int) throws(JSONWireError) -> Int {
        guard i >= 0, i + 4 <= body.count else { throw JSONWireError(.badField, "event batch truncated at byte \(i)") }
        return Int(body[i]) | Int(body[i + 1]) << 8 | Int(body[i + 2]) << 16 | Int(body[i + 3]) << 24
    }

    private static func append(_ value: UInt32, to body: inout [UInt8]) {
        body.append(UInt8(truncatingIfNeeded: value))
        body.append(UInt8(truncatingIfNeeded: value >> 8))
        body.append(UInt8(truncatingIfNeeded: value >> 16))
        body.append(UInt8(truncatingIfNeeded: value >> 24))
    }
}

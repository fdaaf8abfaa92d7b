/// Several events in one ZeroMQ message, as workers send them to the coordinator's event ingest.
///
/// Two frames: the marker `"\u{0}batch"` and the packed events, each as a little-endian `UInt32` topic
/// length, the topic, a little-endian `UInt32` envelope length and the envelope. The coordinator unpacks
/// a batch and validates each event; it publishes them as plain two-frame events and, to subscribers that
/// ask for them, repacked per namespace in the same packing (`EventPublisher`).
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
        raw.topic.withUnsafeBytes { topic in
            raw.envelope.withUnsafeBytes { envelope in append(topic: topic, envelope: envelope, to: &body) }
        }
    }

    /// Appends one event, packed, to a batch body, from borrowed frames.
    public static func append(
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer,
        to body: inout [UInt8]
    ) {
        append(UInt32(topic.count), to: &body)
        body.append(contentsOf: topic)
        append(UInt32(envelope.count), to: &body)
        body.append(contentsOf: envelope)
    }

    /// Calls `body` with each packed event's frames, borrowed from `packed` (no copies).
    /// - Throws: ``JSONWireError`` (`bad_field`) when a length runs past the end, before any event is
    ///   passed on: a truncated batch is rejected whole.
    public static func forEach(
        in packed: UnsafeRawBufferPointer,
        _ body: (_ topic: UnsafeRawBufferPointer, _ envelope: UnsafeRawBufferPointer) -> Void
    ) throws(JSONWireError) {
        if let bad = firstMalformedRecord(packed) {
            throw JSONWireError(.badField, "event batch truncated at byte \(bad)")
        }
        var i = 0
        while i < packed.count {
            let envelopeAt = i + 4 + length(packed, at: i)
            let end = envelopeAt + 4 + length(packed, at: envelopeAt)
            body(
                UnsafeRawBufferPointer(rebasing: packed[(i + 4)..<envelopeAt]),
                UnsafeRawBufferPointer(rebasing: packed[(envelopeAt + 4)..<end])
            )
            i = end
        }
    }

    /// Where the first record whose lengths run past the end of a packed body starts; nil when none does.
    private static func firstMalformedRecord(_ packed: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i < packed.count {
            guard i + 4 <= packed.count else { return i }
            let envelopeAt = i + 4 + length(packed, at: i)
            guard envelopeAt + 4 <= packed.count else { return i }
            let end = envelopeAt + 4 + length(packed, at: envelopeAt)
            guard end <= packed.count else { return i }
            i = end
        }
        return nil
    }

    /// The little-endian `UInt32` length at `i` of a packed body (the caller checked that it is inside).
    static func length(_ p: UnsafeRawBufferPointer, at i: Int) -> Int {
        Int(p[i]) | Int(p[i + 1]) << 8 | Int(p[i + 2]) << 16 | Int(p[i + 3]) << 24
    }

    /// Unpacks a batch body into its events' frames.
    /// - Throws: ``JSONWireError`` (`bad_field`) when a length runs past the end of the body.
    public static func unpack(_ body: [UInt8]) throws(JSONWireError) -> [RawEvent] {
        let unpacked: Result<[RawEvent], JSONWireError> = body.withUnsafeBytes { packed in
            var events: [RawEvent] = []
            do throws(JSONWireError) {
                try forEach(in: packed) { topic, envelope in
                    events.append(RawEvent(topic: Array(topic), envelope: Array(envelope)))
                }
            } catch {
                return .failure(error)
            }
            return .success(events)
        }
        return try unpacked.get()
    }

    private static func append(_ value: UInt32, to body: inout [UInt8]) {
        body.append(UInt8(truncatingIfNeeded: value))
        body.append(UInt8(truncatingIfNeeded: value >> 8))
        body.append(UInt8(truncatingIfNeeded: value >> 16))
        body.append(UInt8(truncatingIfNeeded: value >> 24))
    }
}

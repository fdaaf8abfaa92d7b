import FlowCore

/// A ``/FlowCore/StreamEvent`` as it travels on the event bus: the event plus the attempt that produced it.
///
/// On the wire it is two frames: the topic `<namespace>/<runId>/<type>` and the JSON envelope
/// `{"v":1,"ns":…,"run":…,"attempt":…,"seq":…,"type":…,"node":…,"ts":…,"content":…}`.
/// `seq` counts from 1 within one attempt; see docs/PROTOCOL.md.
public struct WireEvent: Sendable, Hashable {
    /// The event.
    public var event: StreamEvent
    /// The execution attempt of the run that produced the event, starting at 1.
    public var attempt: Int

    public init(event: StreamEvent, attempt: Int) {
        self.event = event
        self.attempt = attempt
    }

    /// The topic frame's bytes.
    public var topicBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(event.namespace.utf8.count + event.runId.utf8.count + event.type.rawValue.utf8.count + 2)
        bytes.append(contentsOf: event.namespace.utf8)
        bytes.append(UInt8(ascii: "/"))
        bytes.append(contentsOf: event.runId.utf8)
        bytes.append(UInt8(ascii: "/"))
        bytes.append(contentsOf: event.type.rawValue.utf8)
        return bytes
    }

    /// What every event of one attempt of one run starts with, written once per run: the topic's
    /// `<namespace>/<runId>/` and the envelope up to the value of `seq`.
    struct RunPrefix: Sendable {
        let namespace: String
        let runId: String
        let topic: [UInt8]
        let envelope: [UInt8]

        init(namespace: String, runId: String, attempt: Int) {
            self.namespace = namespace
            self.runId = runId
            var topic: [UInt8] = []
            topic.reserveCapacity(namespace.utf8.count + runId.utf8.count + 2)
            topic.append(contentsOf: namespace.utf8)
            topic.append(UInt8(ascii: "/"))
            topic.append(contentsOf: runId.utf8)
            topic.append(UInt8(ascii: "/"))
            self.topic = topic
            var w = JSONWriter(capacity: 64 + namespace.utf8.count + runId.utf8.count)
            WireEvent.writeEnvelopeHead(&w, namespace: namespace, runId: runId, attempt: attempt)
            envelope = w.bytes
        }

        /// Whether `event` belongs to this run.
        func matches(_ event: StreamEvent) -> Bool { event.namespace == namespace && event.runId == runId }
    }

    /// Appends the event to an event-batch body (docs/PROTOCOL.md, "Worker endpoint"): topic length, topic,
    /// envelope length, envelope; returns where the topic and the envelope were written.
    ///
    /// - Parameter prefix: The run's prefix, when the caller has one and the event ``RunPrefix/matches(_:)``
    ///   it: the same bytes, written without encoding the namespace, run id and attempt again.
    @discardableResult
    static func appendPacked(
        _ event: StreamEvent,
        attempt: Int,
        prefix: RunPrefix? = nil,
        to body: inout [UInt8]
    ) -> (topic: Range<Int>, envelope: Range<Int>) {
        var w = JSONWriter(capacity: 0)
        swap(&w.bytes, &body)
        defer { swap(&w.bytes, &body) }
        let topicLengthAt = w.bytes.count
        w.bytes.append(contentsOf: [0, 0, 0, 0])
        let topicStart = w.bytes.count
        if let prefix {
            w.bytes.append(contentsOf: prefix.topic)
        } else {
            w.bytes.append(contentsOf: event.namespace.utf8)
            w.bytes.append(UInt8(ascii: "/"))
            w.bytes.append(contentsOf: event.runId.utf8)
            w.bytes.append(UInt8(ascii: "/"))
        }
        w.bytes.append(contentsOf: event.type.rawValue.utf8)
        let topicEnd = w.bytes.count
        let envelopeLengthAt = w.bytes.count
        w.bytes.append(contentsOf: [0, 0, 0, 0])
        let envelopeStart = w.bytes.count
        if let prefix {
            w.bytes.append(contentsOf: prefix.envelope)
        } else {
            writeEnvelopeHead(&w, namespace: event.namespace, runId: event.runId, attempt: attempt)
        }
        writeEnvelopeTail(&w, event)
        let envelopeEnd = w.bytes.count
        Self.patchLength(topicEnd - topicStart, at: topicLengthAt, in: &w.bytes)
        Self.patchLength(envelopeEnd - envelopeStart, at: envelopeLengthAt, in: &w.bytes)
        return (topicStart..<topicEnd, envelopeStart..<envelopeEnd)
    }

    private static func patchLength(_ n: Int, at i: Int, in bytes: inout [UInt8]) {
        bytes[i] = UInt8(truncatingIfNeeded: n)
        bytes[i + 1] = UInt8(truncatingIfNeeded: n >> 8)
        bytes[i + 2] = UInt8(truncatingIfNeeded: n >> 16)
        bytes[i + 3] = UInt8(truncatingIfNeeded: n >> 24)
    }

    /// The envelope frame's bytes (compact JSON, fields in the documented order).
    public var envelopeBytes: [UInt8] {
        var w = JSONWriter(capacity: 160)
        Self.writeEnvelope(&w, event, attempt: attempt)
        return w.bytes
    }

    static func writeEnvelope(_ w: inout JSONWriter, _ event: StreamEvent, attempt: Int) {
        writeEnvelopeHead(&w, namespace: event.namespace, runId: event.runId, attempt: attempt)
        writeEnvelopeTail(&w, event)
    }

    /// The envelope up to the value of `seq`: the part every event of one attempt of a run shares.
    static func writeEnvelopeHead(_ w: inout JSONWriter, namespace: String, runId: String, attempt: Int) {
        w.raw("{\"v\":1,\"ns\":")
        w.string(namespace)
        w.raw(",\"run\":")
        w.string(runId)
        w.raw(",\"attempt\":")
        w.int(attempt)
        w.raw(",\"seq\":")
    }

    /// The envelope from the value of `seq` to its end.
    static func writeEnvelopeTail(_ w: inout JSONWriter, _ event: StreamEvent) {
        w.int(event.seq)
        w.raw(",\"type\":")
        w.string(event.type.rawValue)
        w.raw(",\"node\":")
        w.string(event.node)
        w.raw(",\"ts\":")
        w.timestamp(event.timestamp)
        w.raw(",\"content\":")
        w.value(event.content)
        w.byte(UInt8(ascii: "}"))
    }

    static let envelopeKeys = ["v", "ns", "run", "attempt", "seq", "type", "node", "ts", "content"]

    /// Decodes an event from its two frames, checking that the envelope agrees with the topic.
    ///
    /// Unknown envelope fields are ignored (a v1 reader accepts additions); missing or mistyped fields,
    /// a `v` other than 1 and a topic that disagrees with the envelope are errors.
    /// - Throws: ``JSONWireError``.
    public static func decode(
        topic: some Collection<UInt8>,
        envelope: some Collection<UInt8>
    ) throws(JSONWireError)
        -> WireEvent
    {
        let topicString = try EventTopic.parse(topic)
        let result: Result<WireEvent, JSONWireError>? = envelope.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONWireError) -> WireEvent in
                try decodeEnvelope(UnsafeRawBufferPointer(buffer), topic: topicString)
            }
        }
        if let result { return try result.get() }
        let copy = Array(envelope)
        let r: Result<WireEvent, JSONWireError> = copy.withUnsafeBytes { buffer in
            Result { () throws(JSONWireError) -> WireEvent in try decodeEnvelope(buffer, topic: topicString) }
        }
        return try r.get()
    }

    static func decodeEnvelope(_ bytes: UnsafeRawBufferPointer, topic: EventTopic) throws(JSONWireError) -> WireEvent {
        var p = JSONParser(bytes)
        guard try p.peek() == UInt8(ascii: "{") else {
            throw JSONWireError(.unexpectedByte, "an envelope is a JSON object", offset: p.index)
        }
        var parsed = JSONParser.ObjectFields(known: WireEvent.envelopeKeys)
        var v: Int?
        var ns: String?
        var run: String?
        var attempt: Int?
        var seq: Int?
        var type: String?
        var node: String?
        var ts: Double?
        var content: JSONValue?
        try p.forEachField(&parsed) { (key, p) throws(JSONWireError) in
            switch key {
            case "v": v = try p.parseValue(depth: 1).intValue
            case "ns": ns = try p.parseValue(depth: 1).stringValue
            case "run": run = try p.parseValue(depth: 1).stringValue
            case "attempt": attempt = try p.parseValue(depth: 1).intValue
            case "seq": seq = try p.parseValue(depth: 1).intValue
            case "type": type = try p.parseValue(depth: 1).stringValue
            case "node": node = try p.parseValue(depth: 1).stringValue
            case "ts": ts = try p.parseValue(depth: 1).doubleValue
            case "content": content = try p.parseValue(depth: 1)
            default: try p.skipValue(depth: 1)
            }
        }
        try p.expectEnd()
        guard let v else { throw JSONWireError(.badField, "envelope field \"v\" must be an integer") }
        guard v == 1 else { throw JSONWireError(.unsupportedVersion, "envelope version \(v) is not supported (1 is)") }
        guard let ns else { throw JSONWireError(.badField, "envelope field \"ns\" must be a string") }
        guard let run else { throw JSONWireError(.badField, "envelope field \"run\" must be a string") }
        guard let attempt, (1...PoolProtocol.maxInteger).contains(attempt) else {
            throw MessageFields.outOfRange("envelope", "attempt", 1, PoolProtocol.maxInteger)
        }
        guard let seq, (1...PoolProtocol.maxInteger).contains(seq) else {
            throw MessageFields.outOfRange("envelope", "seq", 1, PoolProtocol.maxInteger)
        }
        guard let type else { throw JSONWireError(.badField, "envelope field \"type\" must be a string") }
        guard let node else { throw JSONWireError(.badField, "envelope field \"node\" must be a string") }
        guard let ts else { throw JSONWireError(.badField, "envelope field \"ts\" must be a number") }
        guard let content else { throw JSONWireError(.badField, "envelope field \"content\" is missing") }
        guard ns == topic.namespace, run == topic.runId, type == topic.type else {
            throw JSONWireError(
                .badField,
                "topic \(topic.namespace)/\(topic.runId)/\(topic.type) disagrees with the envelope (\(ns)/\(run)/\(type))"
            )
        }
        let event = StreamEvent(
            namespace: ns,
            runId: run,
            seq: UInt64(seq),
            type: EventType(rawValue: type),
            node: node,
            timestamp: ts,
            content: content
        )
        return WireEvent(event: event, attempt: attempt)
    }
}

extension JSONParser {
    /// Keys seen in one object, for duplicate detection without building the object.
    struct ObjectFields {
        /// Bit i set when `known[i]` was seen.
        var seenKnown: UInt64 = 0
        var known: [String]
        var others: Set<String> = []

        init(known: [String] = []) { self.known = known }

        /// Records `key`; false when it was already seen.
        mutating func insert(_ key: String) -> Bool {
            for (i, k) in known.enumerated() where k == key {
                let bit: UInt64 = 1 << UInt64(i)
                if seenKnown & bit != 0 { return false }
                seenKnown |= bit
                return true
            }
            return others.insert(key).inserted
        }

        /// Whether `key` was seen.
        func contains(_ key: String) -> Bool {
            if let i = known.firstIndex(of: key) { return seenKnown & (1 << UInt64(i)) != 0 }
            return others.contains(key)
        }
    }

    /// Walks the members of an object whose `{` has been read, for a direct reader that leaves anything unusual
    /// to a general decoder: returns false as soon as a key is not a string or repeats, `member` returns false,
    /// or the object is malformed; true once the closing brace is read. `member` is called with each key and
    /// the parser positioned at the member's value, and must consume the value.
    mutating func readMembers(
        _ fields: inout ObjectFields,
        _ member: (String, inout JSONParser) throws(JSONWireError) -> Bool
    ) throws(JSONWireError) -> Bool {
        while true {
            guard try peek() == UInt8(ascii: "\"") else { return false }
            let key = try parseString()
            guard fields.insert(key) else { return false }
            try expect(UInt8(ascii: ":"), "':'")
            guard try member(key, &self) else { return false }
            let b = try peek()
            index += 1
            if b == UInt8(ascii: "}") { return true }
            guard b == UInt8(ascii: ",") else { return false }
        }
    }

    /// Walks the members of the object at the current position, calling `body` with each key and the parser
    /// positioned at the member's value; `body` must consume the value.
    mutating func forEachField(
        _ fields: inout ObjectFields,
        _ body: (String, inout JSONParser) throws(JSONWireError) -> Void
    ) throws(JSONWireError) {
        try expect(UInt8(ascii: "{"), "'{'")
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            guard try peek() == UInt8(ascii: "\"") else {
                throw JSONWireError(.unexpectedByte, "expected a string key", offset: index)
            }
            let keyOffset = index
            let key = try parseString()
            guard fields.insert(key) else {
                throw JSONWireError(.duplicateKey, "duplicate key \"\(key)\"", offset: keyOffset)
            }
            try expect(UInt8(ascii: ":"), "':'")
            try body(key, &self)
            let c = try peek()
            index += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return }
            throw JSONWireError(.unexpectedByte, "expected ',' or '}'", offset: index - 1)
        }
    }
}

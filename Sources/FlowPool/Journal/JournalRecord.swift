import FlowCore

/// One entry of the coordinator's journal: what it must remember across a restart.
///
/// On disk each record is a frame: its length (4 bytes, little-endian, counting the type byte and the payload),
/// a CRC-32 of the type byte and the payload (4 bytes, little-endian), the type byte, and the payload, a JSON
/// object. A frame whose length runs past the end of the file, or whose checksum does not match, ends the valid
/// part of the journal (a torn write or a corrupt tail).
package enum JournalRecord: Sendable, Equatable {
    /// A run was accepted: everything needed to run it again.
    case accepted(AcceptedRun)
    /// An attempt of a job was dispatched (after a restart the next attempt number is above it).
    case dispatched(job: String, attempt: Int)
    /// A run ended with this result (its request id is not kept).
    case finished(RunResult)

    /// The part of an accepted run that outlives the coordinator process.
    package struct AcceptedRun: Sendable, Equatable {
        package var job: String
        package var flow: String
        package var namespace: String
        package var runId: String
        package var input: JSONValue
        package var requestId: String
        package var maxAttempts: Int
        /// The deadline as wall-clock milliseconds since 1970 (a monotonic clock does not survive a restart).
        package var deadlineWallMilliseconds: Int?

        package init(
            job: String,
            flow: String,
            namespace: String,
            runId: String,
            input: JSONValue,
            requestId: String,
            maxAttempts: Int,
            deadlineWallMilliseconds: Int?
        ) {
            self.job = job
            self.flow = flow
            self.namespace = namespace
            self.runId = runId
            self.input = input
            self.requestId = requestId
            self.maxAttempts = maxAttempts
            self.deadlineWallMilliseconds = deadlineWallMilliseconds
        }
    }

    static let typeAccepted: UInt8 = 1
    static let typeDispatched: UInt8 = 2
    static let typeFinished: UInt8 = 3

    /// Appends the record's frame to `out`.
    package func append(to out: inout [UInt8]) {
        var w = JSONWriter(capacity: 128)
        let type: UInt8
        switch self {
        case .accepted(let a):
            type = Self.typeAccepted
            w.raw("{\"job\":")
            w.string(a.job)
            w.raw(",\"flow\":")
            w.string(a.flow)
            w.raw(",\"ns\":")
            w.string(a.namespace)
            w.raw(",\"run\":")
            w.string(a.runId)
            w.raw(",\"req\":")
            w.string(a.requestId)
            w.raw(",\"max_attempts\":")
            w.int(a.maxAttempts)
            if let d = a.deadlineWallMilliseconds {
                w.raw(",\"deadline_wall_ms\":")
                w.int(d)
            }
            w.raw(",\"input\":")
            w.value(a.input)
            w.byte(UInt8(ascii: "}"))
        case .dispatched(let job, let attempt):
            type = Self.typeDispatched
            w.raw("{\"job\":")
            w.string(job)
            w.raw(",\"attempt\":")
            w.int(attempt)
            w.byte(UInt8(ascii: "}"))
        case .finished(let r):
            type = Self.typeFinished
            r.write(to: &w)
        }
        let payload = w.bytes
        let length = UInt32(1 + payload.count)
        var crc = CRC32()
        crc.update(type)
        crc.update(payload)
        Self.appendLittleEndian(length, to: &out)
        Self.appendLittleEndian(crc.value, to: &out)
        out.append(type)
        out.append(contentsOf: payload)
    }

    /// Reads the record of a frame's type byte and payload.
    static func decode(type: UInt8, payload: ArraySlice<UInt8>) throws(JSONWireError) -> JournalRecord {
        switch type {
        case typeAccepted:
            let f = try fields(payload, op: "accepted")
            return .accepted(
                AcceptedRun(
                    job: try f.string("job"),
                    flow: try f.string("flow"),
                    namespace: try f.string("ns"),
                    runId: try f.string("run"),
                    input: f.value("input"),
                    requestId: try f.string("req"),
                    maxAttempts: try f.int("max_attempts", min: 1, max: PoolProtocol.maxAttempts),
                    deadlineWallMilliseconds: try f.optionalInt("deadline_wall_ms")
                )
            )
        case typeDispatched:
            let f = try fields(payload, op: "dispatched")
            return .dispatched(job: try f.string("job"), attempt: try f.int("attempt", min: 1))
        case typeFinished:
            return .finished(try RunResult(fields: MessageFields(frame: payload)))
        default:
            throw JSONWireError(.badField, "unknown journal record type \(type)")
        }
    }

    private static func fields(_ payload: ArraySlice<UInt8>, op: String) throws(JSONWireError) -> MessageFields {
        guard case .object(let o) = try JSONValue(wireBytes: payload) else {
            throw JSONWireError(.badField, "a journal record is a JSON object")
        }
        return MessageFields(object: o, op: op)
    }

    static func appendLittleEndian(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    static func readLittleEndian(_ bytes: [UInt8], at i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }
}

/// CRC-32 (IEEE 802.3, the polynomial of zlib and gzip), for the journal's frames.
struct CRC32 {
    private(set) var value: UInt32 = 0

    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    mutating func update(_ byte: UInt8) { update(CollectionOfOne(byte)) }

    mutating func update(_ bytes: some Sequence<UInt8>) {
        var c = ~value
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        value = ~c
    }
}

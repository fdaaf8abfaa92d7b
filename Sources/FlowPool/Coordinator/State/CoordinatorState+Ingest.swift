extension CoordinatorState {
    /// What handling one message from the event bus produced.
    struct Ingested: Sendable {
        /// The events to publish, as positions in the message's second frame (and, for a single event, the
        /// topic is the whole first frame).
        var forwarded: [(topic: Range<Int>, envelope: Range<Int>)] = []
        var actions: [Action] = []
        /// Why events were rejected (each also counted in `rejected_bad_events`).
        var rejected: [JSONWireError] = []
        /// Events dropped because the message carried no credential this coordinator issued.
        var forged = 0
    }

    /// Handles one message of the event bus, a single event or an event batch (`first` is then
    /// ``EventBatch/marker``), with the sender's credential (the message's third frame): validates and stores
    /// each event straight from the received frames, and says which ones to publish. Without a credential this
    /// coordinator issued, every event of the message is dropped and counted in `rejected_forged`.
    mutating func ingest(first: [UInt8], second: [UInt8], credential: [UInt8]?, now: Double) -> Ingested {
        let sender = credential.flatMap { credentials.identity($0) }
        return first.withUnsafeBytes { first in
            second.withUnsafeBytes { second in ingest(first: first, second: second, sender: sender, now: now) }
        }
    }

    private mutating func ingest(
        first: UnsafeRawBufferPointer,
        second: UnsafeRawBufferPointer,
        sender: [UInt8]?,
        now: Double
    ) -> Ingested {
        var out = Ingested()
        let isBatch = EventBatch.marker.withUnsafeBytes({ first.hasSameBytes(as: $0) })
        guard let sender else {
            var n = 1
            if isBatch {
                n = 0
                try? EventBatch.forEach(in: second) { _, _ in n += 1 }
            }
            count { $0.rejectedForged += n }
            out.forged = n
            return out
        }
        guard isBatch else {
            ingest(topic: first, envelope: second, in: second, sender: sender, now: now, into: &out)
            return out
        }
        do throws(JSONWireError) {
            try EventBatch.forEach(in: second) { topic, envelope in
                ingest(topic: topic, envelope: envelope, in: second, sender: sender, now: now, into: &out)
            }
        } catch {
            count { $0.rejectedBadEvents += 1 }
            out.rejected.append(error)
        }
        return out
    }

    private mutating func ingest(
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer,
        in message: UnsafeRawBufferPointer,
        sender: [UInt8],
        now: Double,
        into out: inout Ingested
    ) {
        do throws(JSONWireError) {
            let header = try EnvelopeHeader.Scanned(topic: topic, envelope: envelope)
            let (disposition, actions) = event(header, topic: topic, envelope: envelope, sender: sender, now: now)
            if disposition == .forward {
                out.forwarded.append((Self.range(of: topic, in: message), Self.range(of: envelope, in: message)))
            }
            out.actions += actions
        } catch {
            count { $0.rejectedBadEvents += 1 }
            out.rejected.append(error)
        }
    }

    /// The position of `part` within `whole`; an empty range when `part` is not inside it.
    private static func range(of part: UnsafeRawBufferPointer, in whole: UnsafeRawBufferPointer) -> Range<Int> {
        guard let p = part.baseAddress, let w = whole.baseAddress, p >= w, p + part.count <= w + whole.count else {
            return 0..<0
        }
        let start = p - w
        return start..<(start + part.count)
    }
}

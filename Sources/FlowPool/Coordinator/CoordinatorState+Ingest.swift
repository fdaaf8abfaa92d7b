extension CoordinatorState {
    /// What handling one message from the event bus produced.
    struct Ingested: Sendable {
        /// The events to publish, as positions in the message's second frame (and, for a single event, the
        /// topic is the whole first frame).
        var forwarded: [(topic: Range<Int>, envelope: Range<Int>)] = []
        var actions: [Action] = []
        /// Why events were rejected (each also counted in `rejected_bad_events`).
        var rejected: [JSONWireError] = []
    }

    /// Handles one message of the event bus, a single event or an event batch (`first` is then
    /// ``EventBatch/marker``): validates and stores each event straight from the received frames, and
    /// says which ones to publish.
    mutating func ingest(first: [UInt8], second: [UInt8], now: Double) -> Ingested {
        first.withUnsafeBytes { first in
            second.withUnsafeBytes { second in ingest(first: first, second: second, now: now) }
        }
    }

    private mutating func ingest(
        first: UnsafeRawBufferPointer,
        second: UnsafeRawBufferPointer,
        now: Double
    ) -> Ingested {
        var out = Ingested()
        guard EventBatch.marker.withUnsafeBytes({ first.hasSameBytes(as: $0) }) else {
            ingest(topic: first, envelope: second, in: second, now: now, into: &out)
            return out
        }
        do throws(JSONWireError) {
            try EventBatch.forEach(in: second) { topic, envelope in
                ingest(topic: topic, envelope: envelope, in: second, now: now, into: &out)
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
        now: Double,
        into out: inout Ingested
    ) {
        do throws(JSONWireError) {
            let header = try EnvelopeHeader.Scanned(topic: topic, envelope: envelope)
            let (disposition, actions) = event(header, topic: topic, envelope: envelope, now: now)
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

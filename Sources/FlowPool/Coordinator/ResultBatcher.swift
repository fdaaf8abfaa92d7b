/// Holds the results pushed during one loop round for clients that asked for them in batches (`hello` with
/// `"batch_results": true`), and packs them per client into `result_batch` messages at the round's end.
struct ResultBatcher {
    /// Most results in one `result_batch` message.
    static let maxResults = 1_000
    /// Most clients remembered; the oldest are forgotten first (they then get plain `result` messages,
    /// which every client understands).
    static let maxClients = 10_000

    /// The `result_batch` messages being filled for one client: the last one is open (no closing `]}` yet).
    /// A class: filling it in place costs no table accessor.
    private final class Pending {
        var done: [[UInt8]] = []
        var open = JSONWriter(capacity: 0)
        var count = 0
    }

    private var clients: Set<[UInt8]> = []
    private var order = RingBuffer<[UInt8]>()
    private var pending: [[UInt8]: Pending] = [:]
    /// Room each new message starts with: about what the last round's largest message needed, up to 64 KiB.
    private var capacityHint = 4096

    /// Remembers that `client` takes result batches.
    mutating func add(_ client: [UInt8]) {
        guard clients.insert(client).inserted else { return }
        order.append(client)
        while clients.count > Self.maxClients, let old = order.popFirst() { clients.remove(old) }
    }

    /// Holds `result` for `client` when it takes batches; false when it should be sent on its own. The result
    /// is written straight into the client's open `result_batch` message.
    mutating func hold(_ result: RunResult, for client: [UInt8]) -> Bool {
        guard clients.contains(client) else { return false }
        let p: Pending
        if let existing = pending[client] {
            p = existing
        } else {
            p = Pending()
            pending[client] = p
        }
        if p.count == Self.maxResults {
            p.done.append(Self.close(&p.open))
            p.count = 0
        }
        if p.count == 0 {
            p.open = JSONWriter(capacity: capacityHint)
            PoolProtocol.head(&p.open, "result_batch")
            p.open.raw(",\"results\":[")
        } else {
            p.open.byte(UInt8(ascii: ","))
        }
        result.write(to: &p.open)
        p.count += 1
        return true
    }

    /// The held results as `result_batch` frames per client; empties the holding area.
    mutating func take() -> [([UInt8], [UInt8])] {
        guard !pending.isEmpty else { return [] }
        var messages: [([UInt8], [UInt8])] = []
        var largest = 0
        for (client, p) in pending {
            for frame in p.done { messages.append((client, frame)) }
            if p.count > 0 {
                let frame = Self.close(&p.open)
                largest = max(largest, frame.count)
                messages.append((client, frame))
            }
        }
        // Larger messages grow as they are written; a round of many clients then reserves little each.
        capacityHint = min(max(largest + largest / 4, 1024), 64 << 10)
        pending.removeAll(keepingCapacity: true)
        return messages
    }

    private static func close(_ w: inout JSONWriter) -> [UInt8] {
        w.raw("]}")
        defer { w = JSONWriter(capacity: 0) }
        return w.bytes
    }
}

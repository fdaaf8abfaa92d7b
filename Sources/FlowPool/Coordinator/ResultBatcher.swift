/// Holds the results pushed during one loop round for clients that asked for them in batches (`hello` with
/// `"batch_results": true`), and packs them per client into `result_batch` messages at the round's end.
struct ResultBatcher {
    /// Most results in one `result_batch` message.
    static let maxResults = 1_000
    /// Most clients remembered; the oldest are forgotten first (they then get plain `result` messages,
    /// which every client understands).
    static let maxClients = 10_000

    private var clients: Set<[UInt8]> = []
    private var order = RingBuffer<[UInt8]>()
    private var pending: [[UInt8]: [[UInt8]]] = [:]

    /// Remembers that `client` takes result batches.
    mutating func add(_ client: [UInt8]) {
        guard clients.insert(client).inserted else { return }
        order.append(client)
        while clients.count > Self.maxClients, let old = order.popFirst() { clients.remove(old) }
    }

    /// Holds `result` for `client` when it takes batches; false when it should be sent on its own.
    mutating func hold(_ result: RunResult, for client: [UInt8]) -> Bool {
        guard clients.contains(client) else { return false }
        pending[client, default: []].append(result.frame)
        return true
    }

    /// The held results as `result_batch` frames per client; empties the holding area.
    mutating func take() -> [([UInt8], [UInt8])] {
        guard !pending.isEmpty else { return [] }
        var messages: [([UInt8], [UInt8])] = []
        for (client, frames) in pending {
            var start = 0
            while start < frames.count {
                let end = min(start + Self.maxResults, frames.count)
                messages.append((client, ControlReply.resultBatchFrame(Array(frames[start..<end]))))
                start = end
            }
        }
        pending.removeAll(keepingCapacity: true)
        return messages
    }
}

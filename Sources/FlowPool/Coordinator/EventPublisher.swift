import ZeroMQ

/// Publishes forwarded events on the coordinator's events-out XPUB: as plain two-frame events and as
/// per-namespace batches, each only while somebody subscribes to that form.
///
/// The XPUB (with `ZMQ_XPUB_VERBOSE`) passes every subscription up, and an unsubscription only when the
/// last subscriber of that prefix is gone (explicitly or by disconnecting), so ``subscription(_:)`` keeps
/// the exact set of prefixes somebody holds. Plain events are sent while a prefix not starting with `0x00`
/// or `0x01` is held, batches while a prefix starting with `0x01` is held.
///
/// Batched events are appended to their namespace's pending batch, in publishing order, and sent by
/// ``flush(_:)`` (at the end of each loop round) or as soon as a batch is full. A namespace's events thus
/// leave in the order they were published, whichever form a subscriber chose (see docs/PROTOCOL.md,
/// "Batched delivery").
struct EventPublisher {
    /// Topic prefix of batch messages: `"\u{1}batch/" + ns + "/"`.
    static let batchPrefix = EventBatch.subscriberTopicPrefix
    /// Most events in one published batch.
    static let maxBatchEvents = 128
    /// Most packed bytes in one published batch (a larger single event is sent alone).
    static let maxBatchBytes = 32 * 1024

    private struct Pending {
        /// `"\u{1}batch/" + ns + "/"`.
        var topic: [UInt8]
        var body: [UInt8] = []
        var count = 0
    }

    private var prefixes: Set<[UInt8]> = []
    /// Distinct prefixes subscribers hold (plain, batched and handshake topics).
    var subscriptionCount: Int { prefixes.count }
    private(set) var plainPrefixes = 0
    private(set) var batchPrefixes = 0
    private var pending: [Pending] = []
    /// The pending batch used last: most events are of the namespace before them.
    private var lastIndex: Int?

    /// Records a subscription message from the XPUB (first byte 1: subscribe, 0: unsubscribe).
    mutating func subscription(_ message: [UInt8]) {
        guard let first = message.first else { return }
        let prefix = Array(message.dropFirst())
        let isControl = prefix.first == 0
        let isBatch = prefix.first == 1
        if first == 1 {
            guard prefixes.insert(prefix).inserted else { return }
            if isBatch { batchPrefixes += 1 } else if !isControl { plainPrefixes += 1 }
        } else if first == 0 {
            guard prefixes.remove(prefix) != nil else { return }
            if isBatch { batchPrefixes -= 1 } else if !isControl { plainPrefixes -= 1 }
        }
    }

    /// Publishes one event: sends it plain now if anyone subscribes to plain events, and appends it to its
    /// namespace's batch if anyone subscribes to batches.
    mutating func publish(_ raw: RawEvent, on socket: Socket) throws {
        try raw.topic.withUnsafeBytes { topic in
            try raw.envelope.withUnsafeBytes { envelope in
                try publish(topic: topic, envelope: envelope, on: socket)
            }
        }
    }

    /// Publishes one event from borrowed frames (copied into the socket or the batch).
    mutating func publish(topic: UnsafeRawBufferPointer, envelope: UnsafeRawBufferPointer, on socket: Socket) throws {
        if plainPrefixes > 0 {
            try socket.send(topic, more: true)
            try socket.send(envelope)
        }
        guard batchPrefixes > 0 else { return }
        let namespaceEnd = topic.firstIndex(of: UInt8(ascii: "/")) ?? topic.count
        let index = pendingIndex(namespace: UnsafeRawBufferPointer(rebasing: topic[..<namespaceEnd]))
        let size = 8 + topic.count + envelope.count
        if pending[index].count > 0
            && (pending[index].count == Self.maxBatchEvents || pending[index].body.count + size > Self.maxBatchBytes)
        {
            try send(index, on: socket)
        }
        EventBatch.append(topic: topic, envelope: envelope, to: &pending[index].body)
        pending[index].count += 1
    }

    /// Sends every pending batch.
    mutating func flush(_ socket: Socket) throws {
        for index in pending.indices where pending[index].count > 0 {
            try send(index, on: socket)
        }
    }

    private mutating func send(_ index: Int, on socket: Socket) throws {
        defer {
            pending[index].body.removeAll(keepingCapacity: true)
            pending[index].count = 0
        }
        try pending[index].topic.withUnsafeBytes { topic in
            try pending[index].body.withUnsafeBytes { body in
                try socket.send(topic, more: true)
                try socket.send(body)
            }
        }
    }

    private mutating func pendingIndex(namespace: UnsafeRawBufferPointer) -> Int {
        let start = Self.batchPrefix.count
        if let last = lastIndex, last < pending.count, matches(pending[last].topic, start, namespace) { return last }
        for index in pending.indices where matches(pending[index].topic, start, namespace) {
            lastIndex = index
            return index
        }
        if pending.count >= 256 {
            // Many namespaces over time: forget the idle ones (a flushed batch is empty).
            pending.removeAll { $0.count == 0 }
        }
        pending.append(Pending(topic: Self.batchPrefix + namespace + [UInt8(ascii: "/")]))
        lastIndex = pending.count - 1
        return pending.count - 1
    }

    private func matches(_ topic: [UInt8], _ start: Int, _ namespace: UnsafeRawBufferPointer) -> Bool {
        topic.count == start + namespace.count + 1
            && topic.withUnsafeBytes {
                UnsafeRawBufferPointer(rebasing: $0[start..<($0.count - 1)]).hasSameBytes(as: namespace)
            }
    }
}

/// A `replay` request being answered: which runs and ranges remain, read from the replay buffer one batch at a
/// time as the peer takes them, so that a request for everything costs the coordinator a list of run keys and
/// one batch, however much it selects.
struct ReplayCursor {
    let id: String
    /// The runs the pattern selected, oldest first; then the ranges.
    private let keys: [String]
    private let ranges: [ReplayRange]
    private var next = 0
    /// Events read from the buffer and not yet sent: those of one run or range at most.
    private var pending: [RawEvent] = []
    private var pendingIndex = 0
    private var missing: [String] = []

    /// Largest number of events in one `replay_batch` message.
    static let maxEvents = 512
    /// Largest number of event bytes in one `replay_batch` message (an event larger than this travels alone).
    static let maxBytes = 64 << 10

    /// Starts answering `request` against the runs `replay` holds now.
    /// - Throws: ``JSONWireError`` when the pattern is not a valid subscription pattern.
    init(_ request: ReplayRequest, replay: ReplayBuffer) throws(JSONWireError) {
        id = request.id
        if let pattern = request.pattern {
            let topicPattern: TopicPattern
            do {
                topicPattern = try TopicPattern(pattern)
            } catch {
                throw JSONWireError(.badField, "replay: \(error)")
            }
            keys = replay.runKeys(matching: topicPattern, last: request.lastRuns)
        } else {
            keys = []
        }
        ranges = request.ranges
    }

    /// About how much memory the cursor holds besides its current batch.
    var approximateBytes: Int { 64 + 16 * keys.count + 64 * ranges.count + 24 * (pending.count - pendingIndex) }

    /// Reads the next batch; its `last` is true when nothing follows.
    mutating func nextBatch(from replay: ReplayBuffer) -> ReplayBatch {
        var events: [RawEvent] = []
        var bytes = 0
        while true {
            while pendingIndex < pending.count {
                let event = pending[pendingIndex]
                let size = event.topic.count + event.envelope.count
                guard events.isEmpty || (events.count < Self.maxEvents && bytes + size <= Self.maxBytes) else {
                    return ReplayBatch(id: id, events: events, last: false)
                }
                events.append(event)
                bytes += size
                pendingIndex += 1
            }
            pending = []
            pendingIndex = 0
            guard next < keys.count + ranges.count else {
                return ReplayBatch(id: id, events: events, last: true, missing: missing)
            }
            defer { next += 1 }
            if next < keys.count {
                // A run evicted since the request came has nothing left to send.
                pending = replay.events(runKey: keys[next], attempt: nil, from: 1, to: nil) ?? []
                continue
            }
            let range = ranges[next - keys.count]
            let key = "\(range.namespace)/\(range.runId)"
            guard let found = replay.events(runKey: key, attempt: range.attempt, from: range.fromSeq, to: range.toSeq)
            else {
                missing.append(key)
                continue
            }
            // Both ends are range-checked where the request is decoded: the difference cannot overflow.
            if let to = range.toSeq, found.count < to - range.fromSeq + 1 { missing.append(key) }
            pending = found
        }
    }
}

/// The coordinator's bounded per-run history of forwarded events, kept as raw frames.
///
/// Total memory is bounded by `maxBytes` (frame bytes plus a fixed per-event overhead) and the number of runs
/// by `maxRuns`. When either is exceeded the oldest finished run is evicted first; only when no finished run is
/// left is the oldest unfinished run evicted. Every eviction is counted.
struct ReplayBuffer {
    /// One run's history (a class, so appending does not copy or look it up twice). Its events are packed
    /// one after another in one byte buffer, as in an event batch, so storing an event is one copy and no
    /// allocation of its own.
    final class RunLog {
        struct Entry {
            var attempt: Int
            var seq: Int
            /// Where the event's packed record starts in `packed`.
            var offset: Int
        }

        /// The run's key (`<namespace>/<runId>`).
        let key: String
        /// The events, each packed as ``EventBatch/append(topic:envelope:to:)`` writes it.
        var packed: [UInt8] = []
        var entries: [Entry] = []
        var bytes = 0
        var finished = false
        /// Set when the run is evicted: a caller's cached reference is then stale.
        var evicted = false

        init(key: String) { self.key = key }

        /// The frames of the event at `index`.
        func event(at index: Int) -> RawEvent {
            packed.withUnsafeBytes { p in
                let topicStart = entries[index].offset + 4
                let envelopeAt = topicStart + EventBatch.length(p, at: topicStart - 4)
                let envelopeStart = envelopeAt + 4
                return RawEvent(
                    topic: Array(p[topicStart..<envelopeAt]),
                    envelope: Array(p[envelopeStart..<(envelopeStart + EventBatch.length(p, at: envelopeAt))])
                )
            }
        }
    }

    /// Per-event bookkeeping cost counted against the budget, in bytes.
    static let overheadPerEvent = 96

    let maxBytes: Int
    let maxRuns: Int
    private(set) var runs: [String: RunLog] = [:]
    private(set) var totalBytes = 0
    private(set) var evictedRuns = 0
    private(set) var evictedEvents = 0
    /// New logs that started with an evicted log's buffers.
    private(set) var buffersReused = 0
    /// Finished runs' logs, oldest finished first (an evicted one is skipped when reached).
    private var finishedOrder = RingBuffer<RunLog>()
    /// Every run's log, oldest started first (an evicted one is skipped when reached).
    private var startedOrder = RingBuffer<RunLog>()
    /// About how many packed bytes and events recently finished runs held: the room a new run's log starts
    /// with, so that a typical run's events fit without regrowing (and copying) its buffers.
    private var packedHint = 2048
    private var entriesHint = 16
    /// Emptied buffers of evicted logs, handed to new logs: in steady state every new run's log replaces an
    /// evicted one, and reusing its buffers saves their allocation, release and first-touch page faults.
    private var spare: [(packed: [UInt8], entries: [RunLog.Entry])] = []
    /// Most buffers kept in ``spare`` (each at most about four times a typical run's log, so at most a few MiB
    /// outside the budget; in steady state one is taken for each one put back).
    static let maxSpare = 16

    init(maxBytes: Int, maxRuns: Int) {
        self.maxBytes = maxBytes
        self.maxRuns = maxRuns
        runs.reserveCapacity(min(maxRuns, 1 << 17))
    }

    /// Stores an event that was forwarded to subscribers.
    mutating func append(runKey: String, attempt: Int, seq: Int, raw: RawEvent) {
        var cached: RunLog?
        append(runKey: runKey, cached: &cached, attempt: attempt, seq: seq, raw: raw)
    }

    /// Stores an event, using and updating the caller's reference to the run's log.
    mutating func append(runKey: String, cached: inout RunLog?, attempt: Int, seq: Int, raw: RawEvent) {
        raw.topic.withUnsafeBytes { topic in
            raw.envelope.withUnsafeBytes { envelope in
                append(runKey: runKey, cached: &cached, attempt: attempt, seq: seq, topic: topic, envelope: envelope)
            }
        }
    }

    /// Stores an event that was forwarded to subscribers, copied from borrowed frames, using and updating the
    /// caller's reference to the run's log (so that a run's events after the first cost no lookup).
    mutating func append(
        runKey: @autoclosure () -> String,
        cached: inout RunLog?,
        attempt: Int,
        seq: Int,
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer
    ) {
        let size = topic.count + envelope.count + Self.overheadPerEvent
        let log: RunLog
        if let cached, !cached.evicted {
            log = cached
        } else {
            let key = runKey()
            if let existing = runs[key] {
                log = existing
            } else {
                log = RunLog(key: key)
                // A typical run's events fit without regrowing; larger ones grow geometrically.
                if let buffers = spare.popLast() {
                    buffersReused += 1
                    log.packed = buffers.packed
                    log.entries = buffers.entries
                } else {
                    log.packed.reserveCapacity(packedHint)
                    log.entries.reserveCapacity(entriesHint)
                }
                runs[key] = log
                startedOrder.append(log)
            }
            cached = log
        }
        log.entries.append(RunLog.Entry(attempt: attempt, seq: seq, offset: log.packed.count))
        EventBatch.append(topic: topic, envelope: envelope, to: &log.packed)
        log.bytes += size
        totalBytes += size
        evictIfNeeded()
    }

    /// Marks a run finished, making it the first candidate for eviction among runs finished later; `cached` is
    /// the caller's reference to the run's log, if it has one.
    mutating func finish(runKey: String, cached: RunLog? = nil) {
        let found: RunLog?
        if let cached, !cached.evicted { found = cached } else { found = runs[runKey] }
        guard let log = found, !log.finished else { return }
        log.finished = true
        // Moves an eighth of the way toward this run's size, with a quarter more room, within sane bounds.
        packedHint = min(max(packedHint + (log.packed.count * 5 / 4 - packedHint) / 8, 256), 64 << 10)
        entriesHint = min(max(entriesHint + (log.entries.count * 5 / 4 - entriesHint) / 8, 4), 1024)
        finishedOrder.append(log)
    }

    /// The stored events of a run: one attempt's (or every attempt's when nil) with `seq` in `from...to`.
    func events(runKey: String, attempt: Int?, from: Int, to: Int?) -> [RawEvent]? {
        guard let log = runs[runKey] else { return nil }
        let upper = to ?? Int.max
        var events: [RawEvent] = []
        for (index, entry) in log.entries.enumerated() {
            if let attempt, entry.attempt != attempt { continue }
            if entry.seq >= from && entry.seq <= upper { events.append(log.event(at: index)) }
        }
        return events
    }

    /// The run keys selected by a pattern, oldest first; with `last`, only the newest that many (found from the
    /// newest run backwards, so that asking for the newest few of a busy pool costs a few steps).
    func runKeys(matching pattern: TopicPattern, last: Int? = nil) -> [String] {
        guard let last else { return startedOrder.filter { !$0.evicted && pattern.matches(runKey: $0.key) }.map(\.key) }
        var keys: [String] = []
        var offset = 0
        while keys.count < last, let log = startedOrder.fromLast(offset) {
            if !log.evicted && pattern.matches(runKey: log.key) { keys.append(log.key) }
            offset += 1
        }
        return keys.reversed()
    }

    private mutating func evictIfNeeded() {
        guard totalBytes > maxBytes || runs.count > maxRuns else { return }
        while totalBytes > maxBytes || runs.count > maxRuns {
            if let log = finishedOrder.popFirst() {
                if !log.evicted { evict(log) }
                continue
            }
            // No finished run left: evict the oldest unfinished one.
            while let log = startedOrder.first, log.evicted { _ = startedOrder.popFirst() }
            guard let log = startedOrder.first else { return }
            if runs.count == 1 {
                // A single run larger than the whole budget: drop its oldest events.
                trimOldest(log)
                return
            }
            _ = startedOrder.popFirst()
            evict(log)
        }
        // Only after evicting: keys of evicted runs then sit at the head of the orders.
        compactOrders()
    }

    private mutating func evict(_ log: RunLog) {
        runs.removeValue(forKey: log.key)
        log.evicted = true
        totalBytes -= log.bytes
        evictedRuns += 1
        evictedEvents += log.entries.count
        // The orders may still hold the log until it reaches their head: keep only its empty shell, and its
        // buffers for a new log if they are as large as a typical run needs (and not many times larger).
        if spare.count < Self.maxSpare, (packedHint...(4 * packedHint + 4096)).contains(log.packed.capacity),
            log.entries.capacity >= entriesHint, log.entries.capacity <= 4 * entriesHint + 64
        {
            log.packed.removeAll(keepingCapacity: true)
            log.entries.removeAll(keepingCapacity: true)
            spare.append((log.packed, log.entries))
        }
        log.packed = []
        log.entries = []
    }

    private mutating func trimOldest(_ log: RunLog) {
        var dropped = 0
        var freed = 0
        while totalBytes - freed > maxBytes, dropped < log.entries.count {
            let start = log.entries[dropped].offset
            let end = dropped + 1 < log.entries.count ? log.entries[dropped + 1].offset : log.packed.count
            // The packed record carries two 4-byte lengths besides the frames.
            freed += end - start - 8 + Self.overheadPerEvent
            dropped += 1
        }
        let cut = dropped < log.entries.count ? log.entries[dropped].offset : log.packed.count
        log.packed.removeFirst(cut)
        log.entries.removeFirst(dropped)
        for index in log.entries.indices { log.entries[index].offset -= cut }
        log.bytes -= freed
        totalBytes -= freed
        evictedEvents += dropped
    }

    /// Drops evicted runs from the head of the start order, and rebuilds an order that holds many more logs
    /// than there are runs, so both stay proportional to `runs`.
    private mutating func compactOrders() {
        while let log = startedOrder.first, log.evicted { _ = startedOrder.popFirst() }
        if startedOrder.count > 2 * runs.count + 64 {
            var fresh = RingBuffer<RunLog>(capacity: runs.count + 16)
            for log in startedOrder where !log.evicted { fresh.append(log) }
            startedOrder = fresh
        }
        if finishedOrder.count > 2 * runs.count + 64 {
            var fresh = RingBuffer<RunLog>(capacity: runs.count + 16)
            for log in finishedOrder where !log.evicted { fresh.append(log) }
            finishedOrder = fresh
        }
    }
}

/// The coordinator's bounded per-run history of forwarded events, kept as raw frames.
///
/// Total memory is bounded by `maxBytes` (frame bytes plus a fixed per-event overhead) and the number of runs
/// by `maxRuns`. When either is exceeded the oldest finished run is evicted first; only when no finished run is
/// left is the oldest unfinished run evicted. Every eviction is counted.
struct ReplayBuffer {
    /// One stored event.
    struct Stored {
        var attempt: Int
        var seq: Int
        var raw: RawEvent
    }

    /// One run's history (a class, so appending does not copy or look it up twice).
    final class RunLog {
        var events: [Stored] = []
        var bytes = 0
        var finished = false
        /// Set when the run is evicted: a caller's cached reference is then stale.
        var evicted = false
    }

    /// Per-event bookkeeping cost counted against the budget, in bytes.
    static let overheadPerEvent = 96

    let maxBytes: Int
    let maxRuns: Int
    private(set) var runs: [String: RunLog] = [:]
    private(set) var totalBytes = 0
    private(set) var evictedRuns = 0
    private(set) var evictedEvents = 0
    private var finishedOrder = RingBuffer<String>()
    private var startedOrder = RingBuffer<String>()

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

    /// Stores an event that was forwarded to subscribers, using and updating the caller's reference to the
    /// run's log (so that a run's events after the first cost no lookup).
    mutating func append(runKey: String, cached: inout RunLog?, attempt: Int, seq: Int, raw: RawEvent) {
        let size = raw.topic.count + raw.envelope.count + Self.overheadPerEvent
        let log: RunLog
        if let cached, !cached.evicted {
            log = cached
        } else if let existing = runs[runKey] {
            log = existing
            cached = log
        } else {
            log = RunLog()
            runs[runKey] = log
            startedOrder.append(runKey)
            cached = log
        }
        log.events.append(Stored(attempt: attempt, seq: seq, raw: raw))
        log.bytes += size
        totalBytes += size
        evictIfNeeded()
    }

    /// Marks a run finished, making it the first candidate for eviction among runs finished later.
    mutating func finish(runKey: String) {
        guard let log = runs[runKey], !log.finished else { return }
        log.finished = true
        finishedOrder.append(runKey)
    }

    /// The stored events of a run: one attempt's (or every attempt's when nil) with `seq` in `from...to`.
    func events(runKey: String, attempt: Int?, from: Int, to: Int?) -> [RawEvent]? {
        guard let log = runs[runKey] else { return nil }
        let upper = to ?? Int.max
        return log.events.compactMap { stored in
            if let attempt, stored.attempt != attempt { return nil }
            return stored.seq >= from && stored.seq <= upper ? stored.raw : nil
        }
    }

    /// The run keys selected by a pattern, oldest first.
    func runKeys(matching pattern: TopicPattern) -> [String] {
        startedOrder.filter { key in runs[key] != nil && pattern.matches(runKey: key) }
    }

    private mutating func evictIfNeeded() {
        guard totalBytes > maxBytes || runs.count > maxRuns else { return }
        while totalBytes > maxBytes || runs.count > maxRuns {
            if let key = finishedOrder.popFirst() {
                if runs[key]?.finished == true { evict(key) }
                continue
            }
            // No finished run left: evict the oldest unfinished one.
            while let key = startedOrder.first, runs[key] == nil { _ = startedOrder.popFirst() }
            guard let key = startedOrder.first else { return }
            if runs.count == 1 {
                // A single run larger than the whole budget: drop its oldest events.
                trimOldest(key)
                return
            }
            _ = startedOrder.popFirst()
            evict(key)
        }
        // Only after evicting: keys of evicted runs then sit at the head of the orders.
        compactOrders()
    }

    private mutating func evict(_ key: String) {
        guard let log = runs.removeValue(forKey: key) else { return }
        log.evicted = true
        totalBytes -= log.bytes
        evictedRuns += 1
        evictedEvents += log.events.count
    }

    private mutating func trimOldest(_ key: String) {
        guard let log = runs[key] else { return }
        var dropped = 0
        var freed = 0
        while totalBytes - freed > maxBytes, dropped < log.events.count {
            let e = log.events[dropped]
            freed += e.raw.topic.count + e.raw.envelope.count + Self.overheadPerEvent
            dropped += 1
        }
        log.events.removeFirst(dropped)
        log.bytes -= freed
        totalBytes -= freed
        evictedEvents += dropped
    }

    /// Drops keys of evicted runs from the head of the start order so it stays proportional to `runs`.
    private mutating func compactOrders() {
        while let key = startedOrder.first, runs[key] == nil { _ = startedOrder.popFirst() }
        if startedOrder.count > 2 * runs.count + 64 {
            var fresh = RingBuffer<String>(capacity: runs.count + 16)
            for key in startedOrder where runs[key] != nil { fresh.append(key) }
            startedOrder = fresh
        }
        if finishedOrder.count > 2 * runs.count + 64 {
            var fresh = RingBuffer<String>(capacity: runs.count + 16)
            for key in finishedOrder where runs[key]?.finished == true { fresh.append(key) }
            finishedOrder = fresh
        }
    }
}

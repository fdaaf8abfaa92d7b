import FlowCore

/// A subscriber's per-run ordering: delivers each run's events once, in order, and asks for what is missing.
///
/// Within one attempt `seq` counts 1, 2, 3, …; a jump means events were dropped on the way (a slow
/// subscriber's high-water mark). The sequencer then holds later events of that run and returns a
/// ``ReplayRange`` to fetch; the caller feeds the fetched events to ``replayed(_:)``. Events of an attempt
/// older than the newest one seen are stale and dropped; duplicates (live and replayed copies of the same
/// event) are dropped. Everything is counted in ``statistics``.
struct EventSequencer: Sendable {
    struct RunTrack: Sendable {
        var attempt: Int
        var lastSeq: Int
        var done = false
        var repairing = false
        var held: [WireEvent] = []
        /// `lastSeq` at the previous ``tailChecks()``, and how many checks in a row saw no progress.
        var tickSeq = -1
        var idleTicks = 0
    }

    /// Most events held for one run while its gap is being repaired; later ones are dropped and counted lost.
    static let maxHeldPerRun = 10_000

    /// Whether a run first seen at `seq > 1` gets its beginning fetched.
    let repairPrefix: Bool
    /// Most runs tracked; the oldest finished ones are forgotten first.
    let maxRuns: Int
    private(set) var runs: [String: RunTrack] = [:]
    private var order = RingBuffer<String>()
    /// Runs that may still be missing their last events (not known to be done).
    private var open: Set<String> = []
    private(set) var statistics = SubscriberStatistics()

    init(repairPrefix: Bool, maxRuns: Int = 100_000) {
        self.repairPrefix = repairPrefix
        self.maxRuns = maxRuns
    }

    /// Handles a live event: returns what to deliver now and, when a gap opened, what to fetch.
    mutating func live(_ e: WireEvent) -> (deliver: [WireEvent], repair: ReplayRange?) {
        statistics.received += 1
        return accept(e, allowRepair: true)
    }

    /// Handles history fetched at start (`--from-start`): delivered in order, never repaired.
    mutating func history(_ events: [WireEvent]) -> [WireEvent] {
        var out: [WireEvent] = []
        for e in events {
            let (d, _) = accept(e, allowRepair: false)
            out += d
        }
        statistics.fromHistory += out.count
        return out
    }

    /// Handles the answer to a repair: fills the gap and releases the held events.
    mutating func replayed(_ events: [WireEvent], for range: ReplayRange) -> [WireEvent] {
        let key = "\(range.namespace)/\(range.runId)"
        guard var track = runs[key] else { return [] }
        var out: [WireEvent] = []
        for e in events.sorted(by: { ($0.attempt, $0.event.seq) < ($1.attempt, $1.event.seq) })
        where e.attempt == track.attempt && Int(e.event.seq) == track.lastSeq + 1 {
            out.append(e)
            track.lastSeq += 1
            if e.event.type.isTerminal { track.done = true }
        }
        statistics.repaired += out.count
        statistics.delivered += out.count
        runs[key] = track
        return out + release(key)
    }

    /// Handles the answer to a tail check (``tailChecks()``): the events found count as gaps and as repaired.
    mutating func tailReplayed(_ events: [WireEvent], for range: ReplayRange) -> [WireEvent] {
        let out = replayed(events, for: range)
        statistics.gaps += out.count
        return out
    }

    /// The repair failed (timeout, evicted): counts the gap as lost and releases the held events.
    mutating func repairFailed(_ range: ReplayRange) -> [WireEvent] {
        release("\(range.namespace)/\(range.runId)")
    }

    private mutating func release(_ key: String) -> [WireEvent] {
        guard var track = runs[key] else { return [] }
        track.repairing = false
        var out: [WireEvent] = []
        for e in track.held.sorted(by: { $0.event.seq < $1.event.seq }) where e.attempt == track.attempt {
            let seq = Int(e.event.seq)
            if seq <= track.lastSeq || track.done {
                statistics.duplicates += 1
                continue
            }
            if seq > track.lastSeq + 1 { statistics.lost += seq - track.lastSeq - 1 }
            out.append(e)
            track.lastSeq = seq
            if e.event.type.isTerminal { track.done = true }
        }
        track.held = []
        runs[key] = track
        statistics.delivered += out.count
        return out
    }

    private mutating func accept(_ e: WireEvent, allowRepair: Bool) -> (deliver: [WireEvent], repair: ReplayRange?) {
        let key = "\(e.event.namespace)/\(e.event.runId)"
        let seq = Int(e.event.seq)
        guard var track = runs[key] else {
            track(key)
            if allowRepair && repairPrefix && seq > 1 {
                statistics.gaps += seq - 1
                runs[key] = RunTrack(attempt: e.attempt, lastSeq: 0, repairing: true, held: [e])
                return ([], range(e, from: 1, to: seq - 1))
            }
            if seq > 1 && !allowRepair { statistics.lost += seq - 1 }
            runs[key] = RunTrack(attempt: e.attempt, lastSeq: seq, done: e.event.type.isTerminal)
            statistics.delivered += 1
            return ([e], nil)
        }
        if e.attempt < track.attempt {
            statistics.stale += 1
            return ([], nil)
        }
        if e.attempt > track.attempt {
            // A new attempt supersedes the old one; its events count from 1 again.
            track = RunTrack(attempt: e.attempt, lastSeq: 0)
        }
        if track.done || seq <= track.lastSeq || track.held.contains(where: { $0.event.seq == e.event.seq }) {
            statistics.duplicates += 1
            runs[key] = track
            return ([], nil)
        }
        if track.repairing {
            if track.held.count < Self.maxHeldPerRun {
                track.held.append(e)
            } else {
                statistics.lost += 1
            }
            runs[key] = track
            return ([], nil)
        }
        if seq == track.lastSeq + 1 {
            track.lastSeq = seq
            if e.event.type.isTerminal {
                track.done = true
                order.append(key)
            }
            runs[key] = track
            statistics.delivered += 1
            return ([e], nil)
        }
        // A gap.
        if !allowRepair {
            statistics.lost += seq - track.lastSeq - 1
            track.lastSeq = seq
            if e.event.type.isTerminal { track.done = true }
            runs[key] = track
            statistics.delivered += 1
            return ([e], nil)
        }
        statistics.gaps += seq - track.lastSeq - 1
        let repair = range(e, from: track.lastSeq + 1, to: seq - 1)
        track.repairing = true
        track.held = [e]
        runs[key] = track
        return ([], repair)
    }

    private func range(_ e: WireEvent, from: Int, to: Int) -> ReplayRange {
        ReplayRange(namespace: e.event.namespace, runId: e.event.runId, attempt: e.attempt, fromSeq: from, toSeq: to)
    }

    /// The runs whose events stopped arriving before their terminal event: what to fetch from replay.
    ///
    /// A dropped event inside a run shows as a `seq` gap when the next one arrives; dropped *last* events
    /// (the terminal among them) do not. Called periodically (``PoolEvents`` does it every half second): a
    /// run that made no progress since the previous call gets its tail asked for, then again after 2, 4,
    /// 8, … calls without progress, so a run that is merely slow costs a few requests, not one per call.
    mutating func tailChecks() -> [ReplayRange] {
        var ranges: [ReplayRange] = []
        for key in open {
            guard var track = runs[key], !track.done else {
                open.remove(key)
                continue
            }
            if track.repairing || track.lastSeq != track.tickSeq {
                track.tickSeq = track.lastSeq
                track.idleTicks = 0
            } else {
                track.idleTicks += 1
                if track.idleTicks & (track.idleTicks - 1) == 0, let slash = key.firstIndex(of: "/") {
                    ranges.append(
                        ReplayRange(
                            namespace: String(key[..<slash]),
                            runId: String(key[key.index(after: slash)...]),
                            attempt: track.attempt,
                            fromSeq: track.lastSeq + 1,
                            toSeq: nil
                        )
                    )
                }
            }
            runs[key] = track
        }
        return ranges
    }

    /// Forgets the oldest runs beyond ``maxRuns``.
    private mutating func track(_ key: String) {
        open.insert(key)
        order.append(key)
        while runs.count >= maxRuns, let old = order.popFirst() {
            if let t = runs[old], t.done || !t.repairing {
                runs.removeValue(forKey: old)
                open.remove(old)
            }
        }
    }
}

/// What a subscriber received and repaired.
public struct SubscriberStatistics: Sendable, Hashable {
    /// Live events received from the bus.
    public var received = 0
    /// Events handed to the consumer (live, repaired and history).
    public var delivered = 0
    /// Events delivered from the `--from-start` history.
    public var fromHistory = 0
    /// Events found missing (seq gaps), before repair.
    public var gaps = 0
    /// Missing events recovered through replay.
    public var repaired = 0
    /// Missing events that could not be recovered.
    public var lost = 0
    /// Copies dropped (live and replayed copies of the same event).
    public var duplicates = 0
    /// Events of superseded attempts dropped.
    public var stale = 0
    /// Events dropped by the local receive buffer before the sequencer saw them.
    public var bufferDrops = 0
    /// Messages that were not valid events.
    public var invalid = 0
    /// Event batches received (namespace subscriptions take their events in batches).
    public var batches = 0
    /// Rounds of tail checks done (every half second, after everything received before the round).
    public var tailCheckRounds = 0

    public init() {}
}

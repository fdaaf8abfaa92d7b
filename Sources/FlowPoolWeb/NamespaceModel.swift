import FlowCore
import FlowPool
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a namespace page shows: the newest runs of the namespace with their state, and a feed of recent events.
///
/// One model per followed namespace, fed by one subscription of the web view and read by every page open on
/// it. Memory is bounded whatever the pool's rate: ``maxRuns`` runs (each with at most ``maxTextBytes`` of
/// answer text) and ``feedCapacity`` events. Pages never hold a queue: each keeps a cursor, and ``update(after:)``
/// gives it what changed since, coalesced (a run that changed ten times is sent once) and sampled (at most
/// ``feedPerUpdate`` feed events, the newest; the rest are counted as skipped).
///
/// Live events come as the coordinator's batches, undecoded (``apply(_:)-(PackedEvents)``): every event's topic
/// is read (its run, its type: a run's start, progress and end are never missed for want of decoding), and up to
/// ``decodesPerWindow`` envelopes a quarter second are decoded for the details (node, content, streamed text), plus
/// up to as many terminal events for the answers. Below that rate — a person's agents, a demo — every event is
/// decoded; at the pool's full rate the view samples, and its process costs the pool little.
final class NamespaceModel: Sendable {
    static let maxRuns = 500
    static let feedCapacity = 200
    static let feedPerUpdate = 100
    static let maxTextBytes = 8 << 10
    /// Envelopes decoded per ``windowSeconds`` (each kind: terminal events, others).
    static let decodesPerWindow = 200
    static let windowSeconds = 0.25

    let namespace: String
    private let state: Mutex<State>

    /// One run as the page shows it (a class: the event path changes it in place, with one lookup at most).
    final class Run {
        let id: String
        var state = "running"
        var attempt = 0
        var lastSeq: UInt64 = 0
        var started: Double
        var updated: Double
        var node = ""
        var lastType = ""
        /// The last event's content; its summary is made only when the run is sent.
        var lastContent: JSONValue = .null
        var events = 0
        var text = ""
        var textCut = false
        var answer: String?
        var error: JSONValue = .null
        /// Some of its events were counted but not decoded (its node, text and last event may lag).
        var sampled = false
        /// Came from the stored history: its live events are checked against what the history had.
        var fromHistory = false
        /// The model's version when this run last changed.
        var version: UInt64 = 0
        /// Ended with fewer events than its terminal event's `seq`: some were dropped on the way.
        var missing = false
        /// When the follower last asked the pool about it (``NamespaceModel/runsToCheck(now:limit:)``).
        var checked: Double = 0

        init(id: String, started: Double, updated: Double) {
            self.id = id
            self.started = started
            self.updated = updated
        }

        /// Forgets what its events said, to be built again from its stored events.
        func startOver() {
            state = "running"
            attempt = 0
            lastSeq = 0
            node = ""
            lastType = ""
            lastContent = .null
            events = 0
            text = ""
            textCut = false
            answer = nil
            error = .null
            sampled = false
            missing = false
        }

        var json: JSONValue {
            .object([
                "run": .string(id), "state": .string(state), "attempt": .int(attempt), "started": .double(started),
                "updated": .double(updated), "node": .string(node), "last_type": .string(lastType),
                "last": .string(EventText.summary(lastContent)), "events": .int(events), "text": .string(text),
                "text_cut": .bool(textCut),
                "answer": answer.map(JSONValue.string) ?? .null, "error": error, "sampled": .bool(sampled),
            ])
        }
    }

    struct FeedItem {
        var run: String
        var attempt: Int
        var seq: UInt64
        var type: String
        var node: String
        var ts: Double
        /// The event's content; its summary is made only when the item is sent.
        var content: JSONValue
        /// Its position among every event the model took (decoded or not).
        var position: UInt64

        var json: JSONValue {
            .object([
                "run": .string(run), "attempt": .int(attempt), "seq": .int(Int(seq)), "type": .string(type),
                "node": .string(node), "ts": .double(ts), "summary": .string(EventText.summary(content)),
            ])
        }
    }

    /// Where a page is: the last run version and the feed position it was sent.
    struct Cursor: Sendable {
        var version: UInt64
        var feed: UInt64
    }

    private struct State {
        var runs: [String: Run] = [:]
        var order = NameQueue()
        var version: UInt64 = 0
        /// The newest decoded events, a ring of ``feedCapacity``.
        var feed: [FeedItem] = []
        var feedNext = 0
        /// Events ever taken, decoded or not (a feed item's position is its index among them).
        var feedTotal: UInt64 = 0
        var eventsApplied: UInt64 = 0
        var decoded: UInt64 = 0
        /// The current decoding window: when it started and what is left of its budgets.
        var windowStart = 0.0
        var decodesLeft = 0
        var terminalDecodesLeft = 0
        /// The run of the event taken last, and its id's bytes: a batch carries a run's events one after another,
        /// so most events find their run without a lookup.
        var lastRun: Run?
        var lastRunBytes: [UInt8] = []
        /// Runs taken off the model other than by age (a poll of a busy namespace no longer lists them), with the
        /// version that removed them, so that pages drop them too; bounded, and what fell off is remembered.
        var removals: [(version: UInt64, id: String)] = []
        var removalsForgottenThrough: UInt64 = 0
        /// Set while the namespace is followed by polling its newest runs: what the page says about it.
        var sampling: String?
        var samplingVersion: UInt64 = 0
    }

    private let ready = Mutex(false)

    /// Whether the stored history was taken in (or there was none), so that a snapshot shows it.
    var isReady: Bool { ready.withLock { $0 } }
    func setReady() { ready.withLock { $0 = true } }

    init(namespace: String) {
        self.namespace = namespace
        state = Mutex(State())
    }

    /// Events taken in (after the subscription's dedupe), for the status line and tests.
    var eventsApplied: UInt64 { state.withLock { $0.eventsApplied } }

    /// Takes the stored history of the namespace (decoded): its runs' live events are then checked against it, so
    /// that none is taken twice.
    func applyHistory(_ events: [WireEvent]) {
        state.withLock { s in
            for id in Self.applyStored(events, to: &s) { s.runs[id]?.fromHistory = true }
        }
    }

    /// Takes a poll of a busy namespace: the stored events of its newest runs (decoded). Those runs are shown
    /// exactly; every other run leaves the model (pages are told), so that no row stays "running" for want of news.
    func applyPoll(_ events: [WireEvent]) {
        state.withLock { s in
            let polled = Self.applyStored(events, to: &s)
            let gone = s.runs.keys.filter { !polled.contains($0) }
            guard !gone.isEmpty else { return }
            s.version += 1
            for id in gone {
                if s.runs[id] === s.lastRun { s.lastRun = nil }
                s.runs[id] = nil
                s.removals.append((s.version, id))
            }
            s.order = NameQueue()
            for run in s.runs.values.sorted(by: { $0.started < $1.started }) { s.order.append(run.id) }
            let bound = 4 * Self.maxRuns
            if s.removals.count > bound {
                let drop = s.removals.count - bound
                s.removalsForgottenThrough = s.removals[drop - 1].version
                s.removals.removeFirst(drop)
            }
        }
    }

    /// Runs whose events may have been dropped on the way (live batches are not repaired), not asked about in the
    /// last ``quietSeconds``: those that ended with fewer events than their terminal event's `seq` (`ended`), and
    /// those shown running that have had no event for ``quietSeconds`` (their end may be what was dropped). At most
    /// `limit`, ended ones first, then the longest quiet; each is marked asked about.
    func runsToCheck(now: Double, limit: Int) -> [(id: String, ended: Bool)] {
        state.withLock { s in
            let due = s.runs.values.filter { run in
                now - run.checked >= Self.quietSeconds
                    && (run.missing || (run.state == "running" && now - run.updated >= Self.quietSeconds))
            }
            let chosen = due.sorted { ($0.missing ? 0 : 1, $0.updated) < ($1.missing ? 0 : 1, $1.updated) }
                .prefix(limit)
            for run in chosen { run.checked = now }
            return chosen.map { ($0.id, $0.missing) }
        }
    }

    /// How long a running run may go without an event before the follower asks the pool whether it has ended.
    static let quietSeconds = 2.0

    /// Builds a run again from its stored events (all of them, from `replay`), quietly: the events it missed are
    /// not fed to pages or counted as taken. It is as whole as the pool can make it: not checked again for missing
    /// events (the pool may have dropped its oldest ones from its replay buffer). Its live events still on the way
    /// are checked against what it holds, as after the history.
    func rebuild(_ events: [WireEvent]) {
        state.withLock { s in
            for id in Self.applyStored(events, to: &s, rebuild: { _ in true }) {
                s.runs[id]?.missing = false
                s.runs[id]?.fromHistory = true
            }
        }
    }

    /// What pages say while the namespace is sampled by polling (nil: followed event by event).
    func setSampling(_ text: String?) {
        state.withLock { s in
            guard s.sampling != text else { return }
            s.sampling = text
            s.version += 1
            s.samplingVersion = s.version
        }
    }

    /// Events taken per second are measured by the follower from this count.
    var eventsTaken: UInt64 { state.withLock { $0.eventsApplied } }

    /// Takes one decoded event; an event of an older attempt than the run's newest, or one already taken, changes
    /// nothing.
    func apply(_ wire: WireEvent) {
        state.withLock { s in _ = Self.apply(wire, to: &s) }
    }

    /// Takes one published batch: every event's topic, and as many envelopes as the decoding budget allows.
    func apply(_ packed: PackedEvents) {
        let now = WallClock.now
        state.withLock { s in
            if now - s.windowStart >= Self.windowSeconds {
                s.windowStart = now
                s.decodesLeft = Self.decodesPerWindow
                s.terminalDecodesLeft = Self.decodesPerWindow
            }
            packed.forEachEvent { topic, envelope in
                guard let base = topic.baseAddress,
                    let first = memchr(base, Int32(UInt8(ascii: "/")), topic.count),
                    let second = memchr(
                        first + 1,
                        Int32(UInt8(ascii: "/")),
                        topic.count - (base.distance(to: first) + 1)
                    )
                else { return }
                let runStart = base.distance(to: first) + 1
                let runEnd = base.distance(to: UnsafeRawPointer(second))
                let runBytes = UnsafeRawBufferPointer(rebasing: topic[runStart..<runEnd])
                let (type, terminal) = Self.eventType(UnsafeRawBufferPointer(rebasing: topic[(runEnd + 1)...]))
                var run: Run?
                if let last = s.lastRun, s.lastRunBytes.withUnsafeBytes({ Self.same($0, runBytes) }) {
                    run = last
                } else {
                    run = s.runs[String(decoding: runBytes, as: UTF8.self)]
                }
                let checked = run?.fromHistory == true
                if checked || (terminal ? s.terminalDecodesLeft > 0 : s.decodesLeft > 0),
                    let wire = try? WireEvent.decode(topic: topic, envelope: envelope)
                {
                    if !checked {
                        if terminal { s.terminalDecodesLeft -= 1 } else { s.decodesLeft -= 1 }
                    }
                    run = Self.apply(wire, to: &s)
                } else {
                    let taken = run ?? Self.newRun(String(decoding: runBytes, as: UTF8.self), at: now, &s)
                    Self.applyUndecoded(taken, type: type, at: now, to: &s)
                    run = taken
                }
                if let run, run !== s.lastRun {
                    s.lastRun = run
                    s.lastRunBytes = Array(runBytes)
                }
            }
        }
    }

    /// Whether two byte ranges hold the same bytes.
    private static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let p = a.baseAddress, let q = b.baseAddress else { return a.count == 0 }
        return memcmp(p, q, a.count) == 0
    }

    /// An event type read from its topic bytes (without a copy for the common types), and whether it is terminal.
    private static func eventType(_ bytes: UnsafeRawBufferPointer) -> (String, Bool) {
        func equals(_ name: StaticString) -> Bool {
            same(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), bytes)
        }
        switch (bytes.count, bytes.first) {
        case (5, UInt8(ascii: "c")?) where equals("chunk"): return ("chunk", false)
        case (5, UInt8(ascii: "f")?) where equals("final"): return ("final", true)
        case (5, UInt8(ascii: "e")?) where equals("error"): return ("error", true)
        case (8, UInt8(ascii: "p")?) where equals("progress"): return ("progress", false)
        case (8, UInt8(ascii: "r")?) where equals("retrying"): return ("retrying", false)
        case (9, UInt8(ascii: "c")?) where equals("cancelled"): return ("cancelled", true)
        case (13, UInt8(ascii: "d")?) where equals("decision_made"): return ("decision_made", false)
        case (14, UInt8(ascii: "t")?) where equals("tools_executed"): return ("tools_executed", false)
        case (16, UInt8(ascii: "p")?) where equals("params_generated"): return ("params_generated", false)
        default: return (String(decoding: bytes, as: UTF8.self), false)
        }
    }

    /// A run seen for the first time, admitted to the model.
    private static func newRun(_ runId: String, at time: Double, _ s: inout State) -> Run {
        let run = Run(id: runId, started: time, updated: time)
        s.runs[runId] = run
        s.order.append(runId)
        while s.order.count > maxRuns, let oldest = s.order.popFirst() {
            if s.runs[oldest] === s.lastRun { s.lastRun = nil }
            s.runs[oldest] = nil
        }
        return run
    }

    /// Counts an event that was not decoded: the run is seen, its type known (and with it a terminal state).
    private static func applyUndecoded(_ run: Run, type: String, at now: Double, to s: inout State) {
        if run.attempt == 0 { run.attempt = 1 }
        if now > run.updated { run.updated = now }
        run.lastType = type
        run.lastContent = .null
        run.events += 1
        run.sampled = true
        switch type {
        case "final": run.state = "completed"
        case "error": run.state = "failed"
        case "cancelled": run.state = "cancelled"
        default: break
        }
        s.version += 1
        run.version = s.version
        s.eventsApplied += 1
        s.feedTotal += 1
    }

    /// Takes the stored events of runs (history, a poll), which show each run exactly; returns the runs. A run some
    /// of whose events were counted undecoded (``Run/sampled``) starts over from them, quietly: its events are not
    /// counted or fed to pages again.
    private static func applyStored(
        _ events: [WireEvent],
        to s: inout State,
        rebuild: (Run) -> Bool = { $0.sampled }
    ) -> Set<String> {
        var runs = Set<String>()
        var rebuilt = Set<String>()
        for event in events {
            let id = event.event.runId
            if runs.insert(id).inserted, let run = s.runs[id], rebuild(run) {
                run.startOver()
                rebuilt.insert(id)
            }
            apply(event, to: &s, quietly: rebuilt.contains(id))
        }
        return runs
    }

    /// Takes a decoded event (`quietly`: without counting it or adding it to the feed); returns its run.
    @discardableResult
    private static func apply(_ wire: WireEvent, to s: inout State, quietly: Bool = false) -> Run {
        let event = wire.event
        let run = s.runs[event.runId] ?? newRun(event.runId, at: event.timestamp, &s)
        if wire.attempt < run.attempt || (wire.attempt == run.attempt && event.seq <= run.lastSeq) { return run }
        if wire.attempt > run.attempt {
            // A new attempt starts over: its own text, state and answer.
            run.attempt = wire.attempt
            run.text = ""
            run.textCut = false
            run.answer = nil
            run.error = .null
            run.state = "running"
        }
        run.lastSeq = event.seq
        run.updated = max(run.updated, event.timestamp)
        run.node = event.node
        run.lastType = event.type.rawValue
        let kept = EventText.kept(event.content)
        run.lastContent = kept
        run.events += 1
        switch event.type {
        case .chunk:
            if let text = EventText.chunkText(event.content), !run.textCut {
                if run.text.utf8.count + text.utf8.count <= maxTextBytes {
                    run.text += text
                } else {
                    run.textCut = true
                }
            }
        case .final:
            run.state = "completed"
            run.answer = EventText.cut(EventText.finalAnswer(event.content), to: maxTextBytes)
        case .error:
            run.state = "failed"
            run.error = EventText.error(event.content)
        case .cancelled:
            run.state = "cancelled"
            run.error = EventText.error(event.content)
        default: break
        }
        // Each attempt's events count 1, 2, 3, …: a terminal event whose seq is above the events taken says some were
        // not (earlier attempts' events only add to the count).
        run.missing = event.type.isTerminal && run.events < Int(event.seq)
        s.version += 1
        run.version = s.version
        s.decoded += 1
        if quietly { return run }
        s.eventsApplied += 1
        let item = FeedItem(
            run: event.runId,
            attempt: wire.attempt,
            seq: event.seq,
            type: event.type.rawValue,
            node: event.node,
            ts: event.timestamp,
            content: kept,
            position: s.feedTotal
        )
        if s.feed.count < feedCapacity {
            s.feed.append(item)
        } else {
            s.feed[s.feedNext] = item
        }
        s.feedNext = (s.feedNext + 1) % feedCapacity
        s.feedTotal += 1
        return run
    }

    /// Everything a page opening now is shown: the runs newest first, the feed oldest first.
    func snapshot() -> (message: JSONValue, cursor: Cursor) {
        state.withLock { s in
            let runs = s.runs.values.sorted { ($0.started, $0.id) > ($1.started, $1.id) }
            let feed = Self.feed(s, from: 0, limit: Self.feedCapacity)
            return (
                .object([
                    "ns": .string(namespace), "runs": .array(runs.map(\.json)), "feed": .array(feed.map(\.json)),
                    "sampling": s.sampling.map(JSONValue.string) ?? .null,
                ]),
                Cursor(version: s.version, feed: s.feedTotal)
            )
        }
    }

    /// What changed since `cursor` (an `update`, or a `snapshot` when the page may have missed a removal), or nil
    /// when nothing did.
    func update(after cursor: Cursor) -> (event: String, message: JSONValue, cursor: Cursor)? {
        if state.withLock({ cursor.version < $0.removalsForgottenThrough }) {
            let (message, next) = snapshot()
            return ("snapshot", message, next)
        }
        return state.withLock { s in
            guard s.version != cursor.version || s.feedTotal != cursor.feed else { return nil }
            let changed = s.runs.values.filter { $0.version > cursor.version }
                .sorted { ($0.started, $0.id) > ($1.started, $1.id) }
            let pending = s.feedTotal - min(cursor.feed, s.feedTotal)
            let feed = Self.feed(s, from: cursor.feed, limit: Self.feedPerUpdate)
            var message: [String: JSONValue] = [
                "runs": .array(changed.map(\.json)), "feed": .array(feed.map(\.json)),
                "skipped": .int(Int(pending) - feed.count),
            ]
            let removed = s.removals.reversed().prefix { $0.version > cursor.version }.map { JSONValue.string($0.id) }
            if !removed.isEmpty { message["removed"] = .array(removed) }
            if s.samplingVersion > cursor.version { message["sampling"] = s.sampling.map(JSONValue.string) ?? .null }
            return (
                "update",
                .object(message),
                Cursor(version: s.version, feed: s.feedTotal)
            )
        }
    }

    /// The newest `limit` feed items at positions from `start` on, oldest first.
    private static func feed(_ s: State, from start: UInt64, limit: Int) -> [FeedItem] {
        var items: [FeedItem] = []
        var index = s.feedNext
        for _ in 0..<s.feed.count {
            index = (index + s.feed.count - 1) % s.feed.count
            let item = s.feed[index]
            guard item.position >= start, items.count < limit else { break }
            items.append(item)
        }
        return items.reversed()
    }
}

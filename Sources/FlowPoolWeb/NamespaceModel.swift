import FlowCore
import FlowPool
import Synchronization

/// What a namespace page shows: the newest runs of the namespace with their state, and a feed of recent events.
///
/// One model per followed namespace, fed by one subscription of the web view and read by every page open on
/// it. Memory is bounded whatever the pool's rate: ``maxRuns`` runs (each with at most ``maxTextBytes`` of
/// answer text) and ``feedCapacity`` events. Pages never hold a queue: each keeps a cursor, and ``update(after:)``
/// gives it what changed since, coalesced (a run that changed ten times is sent once) and sampled (at most
/// ``feedPerUpdate`` feed events, the newest; the rest are counted as skipped).
final class NamespaceModel: Sendable {
    static let maxRuns = 500
    static let feedCapacity = 200
    static let feedPerUpdate = 100
    static let maxTextBytes = 8 << 10

    let namespace: String
    private let state: Mutex<State>

    struct Run {
        var id: String
        var state = "running"
        var attempt = 0
        var lastSeq: UInt64 = 0
        var started: Double
        var updated: Double
        var node = ""
        var lastType = ""
        var last = ""
        var events = 0
        var text = ""
        var textCut = false
        var answer: String?
        var error: JSONValue = .null
        /// The model's version when this run last changed.
        var version: UInt64 = 0

        var json: JSONValue {
            .object([
                "run": .string(id), "state": .string(state), "attempt": .int(attempt), "started": .double(started),
                "updated": .double(updated), "node": .string(node), "last_type": .string(lastType),
                "last": .string(last), "events": .int(events), "text": .string(text), "text_cut": .bool(textCut),
                "answer": answer.map(JSONValue.string) ?? .null, "error": error,
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
        var summary: String

        var json: JSONValue {
            .object([
                "run": .string(run), "attempt": .int(attempt), "seq": .int(Int(seq)), "type": .string(type),
                "node": .string(node), "ts": .double(ts), "summary": .string(summary),
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
        var feed: [FeedItem] = []
        /// Feed events ever appended (the feed holds the newest of them).
        var feedTotal: UInt64 = 0
        var eventsApplied: UInt64 = 0
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

    /// Takes one event of the namespace. An event of an older attempt than the run's newest, or one already
    /// taken (a subscription that was re-made replays history), changes nothing.
    func apply(_ wire: WireEvent) {
        let event = wire.event
        state.withLock { s in
            var run = s.runs[event.runId] ?? Run(id: event.runId, started: event.timestamp, updated: event.timestamp)
            if s.runs[event.runId] == nil {
                s.order.append(event.runId)
                while s.order.count > Self.maxRuns, let oldest = s.order.popFirst() { s.runs[oldest] = nil }
            }
            if wire.attempt < run.attempt || (wire.attempt == run.attempt && event.seq <= run.lastSeq) { return }
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
            let summary = EventText.summary(event)
            run.last = summary
            run.events += 1
            switch event.type {
            case .chunk:
                if let text = EventText.chunkText(event.content), !run.textCut {
                    if run.text.utf8.count + text.utf8.count <= Self.maxTextBytes {
                        run.text += text
                    } else {
                        run.textCut = true
                    }
                }
            case .final:
                run.state = "completed"
                run.answer = EventText.finalAnswer(event.content)
            case .error:
                run.state = "failed"
                run.error = EventText.error(event.content)
            case .cancelled:
                run.state = "cancelled"
                run.error = EventText.error(event.content)
            default: break
            }
            s.version += 1
            run.version = s.version
            s.runs[event.runId] = run
            s.eventsApplied += 1
            let item = FeedItem(
                run: event.runId,
                attempt: wire.attempt,
                seq: event.seq,
                type: event.type.rawValue,
                node: event.node,
                ts: event.timestamp,
                summary: summary
            )
            if s.feed.count < Self.feedCapacity {
                s.feed.append(item)
            } else {
                s.feed[Int(s.feedTotal % UInt64(Self.feedCapacity))] = item
            }
            s.feedTotal += 1
        }
    }

    /// Everything a page opening now is shown: the runs newest first, the feed oldest first.
    func snapshot() -> (message: JSONValue, cursor: Cursor) {
        state.withLock { s in
            let runs = s.runs.values.sorted { ($0.started, $0.id) > ($1.started, $1.id) }
            let feed = Self.feed(s, from: s.feedTotal - UInt64(s.feed.count))
            return (
                .object([
                    "ns": .string(namespace), "runs": .array(runs.map(\.json)), "feed": .array(feed.map(\.json)),
                ]),
                Cursor(version: s.version, feed: s.feedTotal)
            )
        }
    }

    /// What changed since `cursor`, or nil when nothing did.
    func update(after cursor: Cursor) -> (message: JSONValue, cursor: Cursor)? {
        state.withLock { s in
            guard s.version != cursor.version || s.feedTotal != cursor.feed else { return nil }
            let changed = s.runs.values.filter { $0.version > cursor.version }
                .sorted { ($0.started, $0.id) > ($1.started, $1.id) }
            let pending = s.feedTotal - min(cursor.feed, s.feedTotal)
            let sent = min(pending, UInt64(Self.feedPerUpdate), UInt64(s.feed.count))
            let feed = Self.feed(s, from: s.feedTotal - sent)
            return (
                .object([
                    "runs": .array(changed.map(\.json)), "feed": .array(feed.map(\.json)),
                    "skipped": .int(Int(pending - sent)),
                ]),
                Cursor(version: s.version, feed: s.feedTotal)
            )
        }
    }

    /// The feed's items from absolute position `start` (at least the oldest held) to the newest, oldest first.
    private static func feed(_ s: State, from start: UInt64) -> [FeedItem] {
        let oldest = s.feedTotal - UInt64(s.feed.count)
        var items: [FeedItem] = []
        var position = max(start, oldest)
        while position < s.feedTotal {
            items.append(s.feed[Int(position % UInt64(feedCapacity))])
            position += 1
        }
        return items
    }
}

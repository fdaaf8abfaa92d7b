import FlowCore
import FlowPool
import Synchronization

/// What a run page shows: the run's event timeline (every attempt), the text its `chunk`s assembled, and its
/// result once it ended.
///
/// Fed by a subscription to the run from its first stored event (replay, then live, without gap or duplicate) and
/// read by every page open on the run. Bounded: at most ``maxEvents`` events (the oldest are then dropped and
/// counted in `events_cut`) and ``maxTextBytes`` of text.
final class RunModel: Sendable {
    static let maxEvents = 5_000
    static let maxTextBytes = 256 << 10

    let namespace: String
    let runId: String
    private let state: Mutex<State>

    struct Cursor: Sendable {
        /// Events ever taken that the page was sent (an absolute position).
        var events: Int
        var version: UInt64
        var resultSent: Bool
    }

    private struct State {
        var events: [JSONValue] = []
        /// Events dropped from the front of `events` (very long runs).
        var eventsCut = 0
        var attempts: [Int] = []
        var lastSeq: [Int: UInt64] = [:]
        var currentAttempt = 0
        var text = ""
        var state = "unknown"
        var result: JSONValue?
        /// Bumped on every change of state, text or attempts.
        var version: UInt64 = 0
        var problem: String?
    }

    private let ready = Mutex(false)

    /// Whether the stored history was taken in (or there was none), so that a snapshot shows it.
    var isReady: Bool { ready.withLock { $0 } }
    func setReady() { ready.withLock { $0 = true } }

    init(namespace: String, runId: String) {
        self.namespace = namespace
        self.runId = runId
        state = Mutex(State())
    }

    var hasResult: Bool { state.withLock { $0.result != nil } }

    /// Takes one event of the run; one already taken changes nothing. Returns whether the run has ended (the
    /// event is the current attempt's terminal event).
    @discardableResult
    func apply(_ wire: WireEvent) -> Bool {
        let event = wire.event
        return state.withLock { s in
            let seq = event.seq
            if let last = s.lastSeq[wire.attempt], seq <= last { return false }
            s.lastSeq[wire.attempt] = seq
            if !s.attempts.contains(wire.attempt) {
                s.attempts.append(wire.attempt)
                s.attempts.sort()
            }
            s.events.append(
                .object([
                    "attempt": .int(wire.attempt), "seq": .int(Int(seq)), "type": .string(event.type.rawValue),
                    "node": .string(event.node), "ts": .double(event.timestamp),
                    "content": EventText.boundedContent(event.content),
                ])
            )
            if s.events.count > Self.maxEvents {
                let drop = Self.maxEvents / 5
                s.events.removeFirst(drop)
                s.eventsCut += drop
            }
            if wire.attempt > s.currentAttempt {
                s.currentAttempt = wire.attempt
                s.text = ""
                if s.result == nil { s.state = "running" }
            }
            if wire.attempt == s.currentAttempt {
                switch event.type {
                case .chunk:
                    if let text = EventText.chunkText(event.content),
                        s.text.utf8.count + text.utf8.count <= Self.maxTextBytes
                    {
                        s.text += text
                    }
                case .final: s.state = "completed"
                case .error: s.state = "failed"
                case .cancelled: s.state = "cancelled"
                default: if s.state == "unknown" { s.state = "running" }
                }
            }
            s.version += 1
            return wire.attempt == s.currentAttempt && event.type.isTerminal
        }
    }

    /// Records the run's result (`get_result`).
    func setResult(_ result: RunResult) {
        var error: JSONValue = .null
        if let code = result.errorCode {
            error = .object(["code": .string(code.rawValue), "message": .string(result.errorMessage ?? "")])
        }
        let json: JSONValue = .object([
            "status": .string(result.status.rawValue), "attempts": .int(result.attempts), "result": result.result,
            "error": error,
        ])
        state.withLock { s in
            s.result = json
            s.state = result.status.rawValue
            s.version += 1
        }
    }

    /// A problem following the run (a refused subscription, say), shown on its page.
    func setProblem(_ problem: String?) {
        state.withLock { s in
            s.problem = problem
            s.version += 1
        }
    }

    func snapshot() -> (message: JSONValue, cursor: Cursor) {
        state.withLock { s in
            (
                .object([
                    "ns": .string(namespace), "run": .string(runId), "state": .string(s.state),
                    "events": .array(s.events), "events_cut": .int(s.eventsCut),
                    "attempts": .array(s.attempts.map(JSONValue.int)), "text": .string(s.text),
                    "result": s.result ?? .null, "problem": s.problem.map(JSONValue.string) ?? .null,
                ]),
                Cursor(events: s.eventsCut + s.events.count, version: s.version, resultSent: s.result != nil)
            )
        }
    }

    /// The messages a page at `cursor` is owed: an `update` when events, state or text changed, and the `result`
    /// once.
    func update(after cursor: Cursor) -> (messages: [(event: String, data: JSONValue)], cursor: Cursor) {
        state.withLock { s in
            var messages: [(event: String, data: JSONValue)] = []
            var next = cursor
            if s.version != cursor.version {
                let start = max(cursor.events, s.eventsCut) - s.eventsCut
                messages.append(
                    (
                        "update",
                        .object([
                            "events": .array(Array(s.events[start...])), "state": .string(s.state),
                            "text": .string(s.text), "attempts": .array(s.attempts.map(JSONValue.int)),
                            "events_cut": .int(s.eventsCut), "problem": s.problem.map(JSONValue.string) ?? .null,
                        ])
                    )
                )
                next.events = s.eventsCut + s.events.count
                next.version = s.version
            }
            if !cursor.resultSent, let result = s.result {
                messages.append(("result", result))
                next.resultSent = true
            }
            return (messages, next)
        }
    }
}

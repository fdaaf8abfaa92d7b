import FlowCore

/// A message from the coordinator's control endpoint to a client.
///
/// Every reply is one JSON frame, except `replay_batch`, which is followed by the events' frames.
public enum ControlReply: Sendable, Hashable {
    /// The answer to `hello`.
    case welcome(Welcome)
    /// A submitted run was queued.
    case accepted(id: String, job: String, namespace: String, runId: String)
    /// A submit named a run that is active, or finished with its result still kept: the answer is that run (its
    /// result is pushed as usual, at once if it has finished), not a second one. `accepted` with
    /// `"existing": true` on the wire.
    case acceptedExisting(id: String, job: String, namespace: String, runId: String)
    /// The answer to `cancel`: the run ended `cancelled`; `was` is the state it was in (`queued`, `dispatched`,
    /// `running`).
    case cancelled(id: String, job: String, namespace: String, runId: String, was: String)
    /// The answer to `submit_batch`: one `accepted` or `error` per run, in order.
    case acceptedBatch(id: String, answers: [ControlReply])
    /// A request was refused or could not be parsed.
    case error(id: String?, code: PoolErrorCode, message: String)
    /// The final result of a run (pushed to the submitter when `reply` was true, or the answer to `get_result`).
    case result(RunResult)
    /// The answer to `status`.
    case status(id: String, body: JSONValue)
    /// A batch of stored events.
    case replayBatch(ReplayBatch)
    /// Acknowledges a request that has nothing to return (`subscriber_report`).
    case ok(id: String)
    /// Several pushed results in one message, for clients that asked for them in `hello`.
    case resultBatch([RunResult])

    /// Encodes the reply as its frames.
    public var frames: [[UInt8]] {
        switch self {
        case .welcome(let w):
            return [
                PoolProtocol.message(
                    "welcome",
                    [
                        "id": .string(w.id), "coordinator": .string(w.coordinatorId),
                        "host": w.advertisedHost.map(JSONValue.string) ?? .null,
                        "ports": [
                            "workers": .int(w.workerPort), "events_in": .int(w.eventsInPort),
                            "events_out": .int(w.eventsOutPort),
                        ],
                        "limits": ["max_message_bytes": .int(w.maxMessageBytes), "max_queue": .int(w.maxQueue)],
                    ]
                )
            ]
        case .accepted(let id, let job, let ns, let run):
            return [
                PoolProtocol.message(
                    "accepted",
                    ["id": .string(id), "job": .string(job), "ns": .string(ns), "run": .string(run)]
                )
            ]
        case .acceptedExisting(let id, let job, let ns, let run):
            return [
                PoolProtocol.message(
                    "accepted",
                    [
                        "id": .string(id), "job": .string(job), "ns": .string(ns), "run": .string(run),
                        "existing": .bool(true),
                    ]
                )
            ]
        case .cancelled(let id, let job, let ns, let run, let was):
            return [
                PoolProtocol.message(
                    "cancelled",
                    [
                        "id": .string(id), "job": .string(job), "ns": .string(ns), "run": .string(run),
                        "was": .string(was),
                    ]
                )
            ]
        case .error(let id, let code, let message):
            return [
                PoolProtocol.message(
                    "error",
                    [
                        "id": id.map(JSONValue.string) ?? .null, "code": .string(code.rawValue),
                        "message": .string(message),
                    ]
                )
            ]
        case .result(let r): return [r.frame]
        case .ok(let id): return [PoolProtocol.message("ok", ["id": .string(id)])]
        case .resultBatch(let results): return [Self.resultBatchFrame(results.map(\.frame))]
        case .acceptedBatch(let id, let answers):
            // Written member by member: a batch answers up to 1,000 submits.
            var w = JSONWriter(capacity: 64 + 80 * answers.count)
            PoolProtocol.head(&w, "accepted_batch")
            w.raw(",\"id\":")
            w.string(id)
            w.raw(",\"items\":[")
            for (index, answer) in answers.enumerated() {
                if index > 0 { w.byte(UInt8(ascii: ",")) }
                switch answer {
                case .accepted(let id, let job, let ns, let run), .acceptedExisting(let id, let job, let ns, let run):
                    w.raw("{\"id\":")
                    w.string(id)
                    w.raw(",\"job\":")
                    w.string(job)
                    w.raw(",\"ns\":")
                    w.string(ns)
                    w.raw(",\"run\":")
                    w.string(run)
                    if case .acceptedExisting = answer { w.raw(",\"existing\":true") }
                    w.byte(UInt8(ascii: "}"))
                case .error(let id, let code, let message):
                    w.raw("{\"id\":")
                    if let id { w.string(id) } else { w.raw("null") }
                    w.raw(",\"code\":")
                    w.string(code.rawValue)
                    w.raw(",\"message\":")
                    w.string(message)
                    w.byte(UInt8(ascii: "}"))
                default:
                    w.raw("null")
                }
            }
            w.raw("]}")
            return [w.bytes]
        case .status(let id, let body):
            var w = JSONWriter(capacity: 512)
            PoolProtocol.head(&w, "status")
            w.raw(",\"id\":")
            w.string(id)
            w.raw(",\"body\":")
            w.value(body)
            w.byte(UInt8(ascii: "}"))
            return [w.bytes]
        case .replayBatch(let b):
            var frames: [[UInt8]] = [
                PoolProtocol.message(
                    "replay_batch",
                    [
                        "id": .string(b.id), "count": .int(b.events.count), "last": .bool(b.last),
                        "missing": b.last ? .array(b.missing.map { .string($0) }) : .null,
                    ]
                )
            ]
            frames.reserveCapacity(1 + 2 * b.events.count)
            for e in b.events {
                frames.append(e.topic)
                frames.append(e.envelope)
            }
            return frames
        }
    }

    /// A `result_batch` message from result messages already encoded (each becomes one element of
    /// `results`, byte for byte).
    static func resultBatchFrame(_ results: [[UInt8]]) -> [UInt8] {
        PoolProtocol.arrayMessage("result_batch", "results", results)
    }

    /// The request id the reply answers, when it has one.
    public var id: String? {
        switch self {
        case .welcome(let w): return w.id
        case .accepted(let id, _, _, _), .acceptedExisting(let id, _, _, _): return id
        case .cancelled(let id, _, _, _, _): return id
        case .acceptedBatch(let id, _): return id
        case .error(let id, _, _): return id
        case .result(let r): return r.id
        case .status(let id, _): return id
        case .replayBatch(let b): return b.id
        case .ok(let id): return id
        case .resultBatch: return nil
        }
    }

    /// Decodes a reply from its frames.
    /// - Throws: ``JSONWireError``.
    public static func decode(_ frames: [[UInt8]]) throws(JSONWireError) -> ControlReply {
        if frames.count == 1,
            let reply = frames[0].withUnsafeBytes({ decodeResults($0) ?? decodeAcceptedBatch($0) })
        {
            return reply
        }
        return try decodeGeneral(frames)
    }

    /// Decodes any reply through a JSON value tree of its first frame.
    static func decodeGeneral(_ frames: [[UInt8]]) throws(JSONWireError) -> ControlReply {
        guard let first = frames.first else { throw JSONWireError(.badField, "empty message") }
        let f = try MessageFields(frame: first)
        if f.op != "replay_batch", frames.count != 1 {
            throw JSONWireError(.badField, "\(f.op): expected 1 frame, got \(frames.count)")
        }
        switch f.op {
        case "welcome":
            guard case .object(let ports) = f.value("ports"), case .object(let limits) = f.value("limits") else {
                throw JSONWireError(.badField, "welcome: \"ports\" and \"limits\" must be objects")
            }
            let p = MessageFields(object: ports, op: "welcome.ports")
            let l = MessageFields(object: limits, op: "welcome.limits")
            return .welcome(
                Welcome(
                    id: try f.string("id"),
                    coordinatorId: try f.string("coordinator"),
                    advertisedHost: try f.optionalString("host"),
                    workerPort: try p.int("workers", min: 1),
                    eventsInPort: try p.int("events_in", min: 1),
                    eventsOutPort: try p.int("events_out", min: 1),
                    maxMessageBytes: try l.int("max_message_bytes"),
                    maxQueue: try l.int("max_queue")
                )
            )
        case "accepted":
            let (id, job, ns, run) = (try f.string("id"), try f.string("job"), try f.string("ns"), try f.string("run"))
            return try f.bool("existing", default: false)
                ? .acceptedExisting(id: id, job: job, namespace: ns, runId: run)
                : .accepted(id: id, job: job, namespace: ns, runId: run)
        case "cancelled":
            return .cancelled(
                id: try f.string("id"),
                job: try f.string("job"),
                namespace: try f.string("ns"),
                runId: try f.string("run"),
                was: try f.string("was")
            )
        case "accepted_batch":
            guard let items = f.value("items").arrayValue else {
                throw JSONWireError(.badField, "accepted_batch: \"items\" must be an array")
            }
            var answers: [ControlReply] = []
            answers.reserveCapacity(items.count)
            for item in items {
                guard case .object(let o) = item else {
                    throw JSONWireError(.badField, "accepted_batch: each item is an object")
                }
                let i = MessageFields(object: o, op: "accepted_batch item")
                if let code = try i.optionalString("code") {
                    answers.append(
                        .error(
                            id: try i.optionalString("id"),
                            code: PoolErrorCode(code),
                            message: try i.string("message")
                        )
                    )
                } else {
                    let (id, job, ns, run) = (
                        try i.string("id"), try i.string("job"), try i.string("ns"), try i.string("run")
                    )
                    answers.append(
                        try i.bool("existing", default: false)
                            ? .acceptedExisting(id: id, job: job, namespace: ns, runId: run)
                            : .accepted(id: id, job: job, namespace: ns, runId: run)
                    )
                }
            }
            return .acceptedBatch(id: try f.string("id"), answers: answers)
        case "error":
            return .error(
                id: try f.optionalString("id"),
                code: PoolErrorCode(try f.string("code")),
                message: try f.string("message")
            )
        case "result": return .result(try RunResult(fields: f))
        case "ok": return .ok(id: try f.string("id"))
        case "result_batch":
            guard let items = f.object["results"]?.arrayValue else {
                throw JSONWireError(.badField, "result_batch: \"results\" must be an array")
            }
            var results: [RunResult] = []
            results.reserveCapacity(items.count)
            for item in items {
                guard case .object(let o) = item else {
                    throw JSONWireError(.badField, "result_batch: each result is an object")
                }
                results.append(try RunResult(fields: MessageFields(object: o, op: "result")))
            }
            return .resultBatch(results)
        case "status": return .status(id: try f.string("id"), body: f.value("body"))
        case "replay_batch":
            let count = try f.int("count")
            guard frames.count == 1 + 2 * count else {
                throw JSONWireError(.badField, "replay_batch: count \(count) but \(frames.count - 1) event frames")
            }
            var events: [RawEvent] = []
            events.reserveCapacity(count)
            for i in 0..<count {
                events.append(RawEvent(topic: frames[1 + 2 * i], envelope: frames[2 + 2 * i]))
            }
            let missing = (f.value("missing").arrayValue ?? []).compactMap(\.stringValue)
            return .replayBatch(
                ReplayBatch(
                    id: try f.string("id"),
                    events: events,
                    last: try f.bool("last", default: true),
                    missing: missing
                )
            )
        default:
            throw JSONWireError(.unknownOp, "unknown op \"\(f.op.prefix(64))\"")
        }
    }
}

/// What a client needs to reach the rest of the coordinator.
public struct Welcome: Sendable, Hashable {
    public var id: String
    /// The coordinator's instance id (changes on restart).
    public var coordinatorId: String
    /// The host to connect to for the other ports; nil means "the host you reached me on".
    public var advertisedHost: String?
    /// The worker endpoint's port (ROUTER; workers connect a DEALER).
    public var workerPort: Int
    /// The event-ingest port (XSUB; workers connect an XPUB).
    public var eventsInPort: Int
    /// The event-publish port (XPUB; subscribers connect a SUB).
    public var eventsOutPort: Int
    /// The largest message the coordinator accepts (ZMQ_MAXMSGSIZE).
    public var maxMessageBytes: Int
    /// Capacity of the queue of accepted-but-undispatched jobs.
    public var maxQueue: Int

    public init(
        id: String,
        coordinatorId: String,
        advertisedHost: String?,
        workerPort: Int,
        eventsInPort: Int,
        eventsOutPort: Int,
        maxMessageBytes: Int,
        maxQueue: Int
    ) {
        self.id = id
        self.coordinatorId = coordinatorId
        self.advertisedHost = advertisedHost
        self.workerPort = workerPort
        self.eventsInPort = eventsInPort
        self.eventsOutPort = eventsOutPort
        self.maxMessageBytes = maxMessageBytes
        self.maxQueue = maxQueue
    }
}

/// An event's two frames, undecoded.
public struct RawEvent: Sendable, Hashable {
    /// The topic frame.
    public var topic: [UInt8]
    /// The envelope frame.
    public var envelope: [UInt8]

    public init(topic: [UInt8], envelope: [UInt8]) {
        self.topic = topic
        self.envelope = envelope
    }

    /// Decodes the event.
    public func decode() throws(JSONWireError) -> WireEvent { try WireEvent.decode(topic: topic, envelope: envelope) }
}

/// Stored events sent in answer to `replay`.
public struct ReplayBatch: Sendable, Hashable {
    public var id: String
    /// The events, in (run, attempt, seq) order within each run.
    public var events: [RawEvent]
    /// Whether this is the last batch for the request.
    public var last: Bool
    /// On the last batch: the requested runs (`ns/run`) of which nothing or not everything was stored.
    public var missing: [String]

    public init(id: String, events: [RawEvent], last: Bool, missing: [String] = []) {
        self.id = id
        self.events = events
        self.last = last
        self.missing = missing
    }
}

/// How a run ended, as the coordinator recorded it.
public struct RunResult: Sendable, Hashable {
    /// Whether the run completed or failed.
    public enum Status: String, Sendable, Hashable {
        case completed
        case failed
        /// Ended by `cancel` before it finished.
        case cancelled
    }

    /// The submit request's id (empty when answering `get_result` without one).
    public var id: String
    public var job: String
    public var namespace: String
    public var runId: String
    public var status: Status
    /// How many attempts were dispatched.
    public var attempts: Int
    /// The flow's result when completed.
    public var result: JSONValue
    /// Why it failed, when failed.
    public var errorCode: PoolErrorCode?
    public var errorMessage: String?

    public init(
        id: String,
        job: String,
        namespace: String,
        runId: String,
        status: Status,
        attempts: Int,
        result: JSONValue,
        errorCode: PoolErrorCode? = nil,
        errorMessage: String? = nil
    ) {
        self.id = id
        self.job = job
        self.namespace = namespace
        self.runId = runId
        self.status = status
        self.attempts = attempts
        self.result = result
        self.errorCode = errorCode
        self.errorMessage = errorMessage
    }

    var frame: [UInt8] {
        var w = JSONWriter(capacity: 192 + result.approximateByteCount)
        write(to: &w)
        return w.bytes
    }

    /// Appends the `result` message's JSON object.
    func write(to w: inout JSONWriter) {
        PoolProtocol.head(&w, "result")
        w.raw(",\"id\":")
        w.string(id)
        w.raw(",\"job\":")
        w.string(job)
        w.raw(",\"ns\":")
        w.string(namespace)
        w.raw(",\"run\":")
        w.string(runId)
        w.raw(",\"status\":")
        w.string(status.rawValue)
        w.raw(",\"attempts\":")
        w.int(attempts)
        w.outcome(result: result, errorCode: errorCode, errorMessage: errorMessage)
        w.byte(UInt8(ascii: "}"))
    }

    init(fields f: MessageFields) throws(JSONWireError) {
        guard let status = Status(rawValue: try f.string("status")) else {
            throw JSONWireError(.badField, "result: \"status\" must be \"completed\", \"failed\" or \"cancelled\"")
        }
        id = try f.string("id")
        job = try f.string("job")
        namespace = try f.string("ns")
        runId = try f.string("run")
        self.status = status
        attempts = try f.int("attempts")
        result = f.value("result")
        if case .object(let e) = f.value("error") {
            errorCode = e["code"]?.stringValue.map(PoolErrorCode.init(rawValue:))
            errorMessage = e["message"]?.stringValue
        }
    }
}

extension JSONWriter {
    /// Writes a run's outcome as members after others: `"result"` unless null, `"error"` {code, message} when
    /// there is a code.
    mutating func outcome(result: JSONValue, errorCode: PoolErrorCode?, errorMessage: String?) {
        if !result.isNull {
            raw(",\"result\":")
            value(result)
        }
        if let errorCode {
            raw(",\"error\":{\"code\":")
            string(errorCode.rawValue)
            raw(",\"message\":")
            string(errorMessage ?? "")
            byte(UInt8(ascii: "}"))
        }
    }
}

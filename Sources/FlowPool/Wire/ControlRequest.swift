import FlowCore

/// A request from a client (DEALER) to the coordinator's control endpoint (ROUTER): one JSON frame.
public enum ControlRequest: Sendable, Hashable {
    /// Asks for the coordinator's endpoints and limits; answered with ``ControlReply/welcome(_:)``. With
    /// `batchResults`, this client's pushed results come as `result_batch` messages.
    case hello(id: String, batchResults: Bool = false)
    /// Submits a run; answered with `accepted` or `error`, later `result` when `reply` is true.
    case submit(SubmitRequest)
    /// Submits up to 1,000 runs; answered with one `accepted_batch`, later one `result` per run.
    case submitBatch(id: String, runs: [SubmitRequest])
    /// Asks for counters and workers; answered with `status`.
    case status(id: String)
    /// Asks for stored events; answered with one or more `replay_batch` messages.
    case replay(ReplayRequest)
    /// Asks for the result of a run; answered with `result` or `error` (`not_found`).
    case getResult(id: String, namespace: String, runId: String)
    /// Ends a run `cancelled` (a queued run is removed; a running one's task is cancelled on its worker);
    /// answered with `cancelled`, or `error` (`already_finished`, `not_found`).
    case cancel(id: String, namespace: String, runId: String)
    /// A subscriber's own account of what it received and missed (only it can see its drops); answered with
    /// `ok`, shown by `status`.
    case subscriberReport(SubscriberReport)

    /// The request id the client chose; replies echo it.
    public var id: String {
        switch self {
        case .hello(let id, _), .status(let id), .getResult(let id, _, _), .cancel(let id, _, _): return id
        case .submit(let s): return s.id
        case .submitBatch(let id, _): return id
        case .replay(let r): return r.id
        case .subscriberReport(let r): return r.id
        }
    }

    /// Encodes the request as its single frame.
    public var frame: [UInt8] {
        switch self {
        case .hello(let id, let batchResults):
            return PoolProtocol.message(
                "hello",
                batchResults ? ["id": .string(id), "batch_results": true] : ["id": .string(id)]
            )
        case .subscriberReport(let r):
            return PoolProtocol.message(
                "subscriber_report",
                [
                    "id": .string(r.id), "subscriber": .string(r.subscriber), "pattern": .string(r.pattern),
                    "host": .string(r.host), "pid": .int(r.pid), "received": .int(r.received),
                    "delivered": .int(r.delivered), "gaps": .int(r.gaps), "repaired": .int(r.repaired),
                    "lost": .int(r.lost), "buffer_drops": .int(r.bufferDrops),
                ]
            )
        case .status(let id): return PoolProtocol.message("status", ["id": .string(id)])
        case .getResult(let id, let ns, let run):
            return PoolProtocol.message("get_result", ["id": .string(id), "ns": .string(ns), "run": .string(run)])
        case .cancel(let id, let ns, let run):
            return PoolProtocol.message("cancel", ["id": .string(id), "ns": .string(ns), "run": .string(run)])
        case .submit(let s):
            return PoolProtocol.message(
                "submit",
                [
                    "id": .string(s.id), "flow": .string(s.flow), "ns": .string(s.namespace),
                    "run": s.runId.map(JSONValue.string) ?? .null, "input": s.input, "reply": .bool(s.reply),
                    "max_attempts": s.maxAttempts.map(JSONValue.int) ?? .null,
                    "deadline_ms": s.deadlineMilliseconds.map(JSONValue.int) ?? .null,
                    "require_worker": s.requireWorker ? .bool(true) : .null,
                ]
            )
        case .submitBatch(let id, let runs):
            // Written member by member: a batch carries up to 1,000 submits.
            var w = JSONWriter(capacity: 64 + 128 * runs.count)
            PoolProtocol.head(&w, "submit_batch")
            w.raw(",\"id\":")
            w.string(id)
            w.raw(",\"runs\":[")
            for (index, s) in runs.enumerated() {
                if index > 0 { w.byte(UInt8(ascii: ",")) }
                w.raw("{\"id\":")
                w.string(s.id)
                w.raw(",\"flow\":")
                w.string(s.flow)
                w.raw(",\"ns\":")
                w.string(s.namespace)
                if let run = s.runId {
                    w.raw(",\"run\":")
                    w.string(run)
                }
                w.raw(",\"input\":")
                w.value(s.input)
                if !s.reply { w.raw(",\"reply\":false") }
                if let m = s.maxAttempts {
                    w.raw(",\"max_attempts\":")
                    w.int(m)
                }
                if let d = s.deadlineMilliseconds {
                    w.raw(",\"deadline_ms\":")
                    w.int(d)
                }
                if s.requireWorker { w.raw(",\"require_worker\":true") }
                w.byte(UInt8(ascii: "}"))
            }
            w.raw("]}")
            return w.bytes
        case .replay(let r):
            let ranges: [JSONValue] = r.ranges.map { range in
                var o: [String: JSONValue] = ["ns": .string(range.namespace), "run": .string(range.runId)]
                if let a = range.attempt { o["attempt"] = .int(a) }
                o["from_seq"] = .int(range.fromSeq)
                if let t = range.toSeq { o["to_seq"] = .int(t) }
                return .object(o)
            }
            return PoolProtocol.message(
                "replay",
                [
                    "id": .string(r.id), "pattern": r.pattern.map(JSONValue.string) ?? .null,
                    "ranges": ranges.isEmpty ? .null : .array(ranges),
                    "last_runs": r.lastRuns.map(JSONValue.int) ?? .null,
                ]
            )
        }
    }

    /// Decodes a request frame.
    /// - Throws: ``JSONWireError`` (`unsupported_version`, `bad_field`, …) or, for an unknown op, a
    ///   ``JSONWireError`` with code `unknown_op`.
    public static func decode(_ frame: some Collection<UInt8>) throws(JSONWireError) -> ControlRequest {
        let fast: ControlRequest?? = frame.withContiguousStorageIfAvailable { bytes in
            Self.decodeSubmit(UnsafeRawBufferPointer(bytes))
        }
        if let fast = fast ?? nil { return fast }
        return try decodeGeneral(frame)
    }

    /// Decodes a request frame through a JSON value tree (any member order, any op).
    static func decodeGeneral(_ frame: some Collection<UInt8>) throws(JSONWireError) -> ControlRequest {
        let f = try MessageFields(frame: frame)
        let id = try f.string("id")
        guard id.utf8.count <= 256 else { throw JSONWireError(.badField, "\(f.op): field \"id\" is too long") }
        switch f.op {
        case "hello":
            guard let batch = f.object["batch_results"], !batch.isNull else { return .hello(id: id) }
            guard let value = batch.boolValue else {
                throw JSONWireError(.badField, "hello: field \"batch_results\" must be a boolean")
            }
            return .hello(id: id, batchResults: value)
        case "subscriber_report":
            let subscriber = try f.string("subscriber")
            let pattern = try f.string("pattern")
            let host = try f.optionalString("host") ?? ""
            guard subscriber.utf8.count <= 256, pattern.utf8.count <= 256, host.utf8.count <= 256 else {
                throw JSONWireError(.badField, "subscriber_report: subscriber, pattern and host are at most 256 bytes")
            }
            return .subscriberReport(
                SubscriberReport(
                    id: id,
                    subscriber: subscriber,
                    pattern: pattern,
                    host: host,
                    pid: try f.optionalInt("pid") ?? 0,
                    received: try f.optionalInt("received") ?? 0,
                    delivered: try f.optionalInt("delivered") ?? 0,
                    gaps: try f.optionalInt("gaps") ?? 0,
                    repaired: try f.optionalInt("repaired") ?? 0,
                    lost: try f.optionalInt("lost") ?? 0,
                    bufferDrops: try f.optionalInt("buffer_drops") ?? 0
                )
            )
        case "status": return .status(id: id)
        case "get_result": return .getResult(id: id, namespace: try f.namespace(), runId: try f.runId())
        case "cancel": return .cancel(id: id, namespace: try f.namespace(), runId: try f.runId())
        case "submit":
            return .submit(try submitRequest(f, id: id))
        case "submit_batch":
            guard let list = f.object["runs"]?.arrayValue, !list.isEmpty, list.count <= 1000 else {
                throw JSONWireError(.badField, "submit_batch: \"runs\" must be an array of 1–1000 submits")
            }
            var runs: [SubmitRequest] = []
            runs.reserveCapacity(list.count)
            for item in list {
                guard case .object(let o) = item else {
                    throw JSONWireError(.badField, "submit_batch: each run is an object")
                }
                let r = MessageFields(object: o, op: "submit_batch run")
                runs.append(try submitRequest(r, id: try r.string("id")))
            }
            return .submitBatch(id: id, runs: runs)
        case "replay":
            let pattern = try f.optionalString("pattern")
            var ranges: [ReplayRange] = []
            if let list = f.object["ranges"], !list.isNull {
                guard let array = list.arrayValue, array.count <= 10_000 else {
                    throw JSONWireError(.badField, "replay: field \"ranges\" must be an array of at most 10000 ranges")
                }
                for item in array {
                    guard case .object(let o) = item else {
                        throw JSONWireError(.badField, "replay: each range is an object")
                    }
                    let r = MessageFields(object: o, op: "replay range")
                    ranges.append(
                        ReplayRange(
                            namespace: try r.namespace(),
                            runId: try r.runId(),
                            attempt: try r.optionalInt("attempt", min: 1),
                            fromSeq: try r.optionalInt("from_seq", min: 1) ?? 1,
                            toSeq: try r.optionalInt("to_seq", min: 1)
                        )
                    )
                }
            }
            guard pattern != nil || !ranges.isEmpty else {
                throw JSONWireError(.badField, "replay: give \"pattern\" or \"ranges\"")
            }
            let lastRuns = try f.optionalInt("last_runs", min: 1)
            guard lastRuns == nil || pattern != nil else {
                throw JSONWireError(.badField, "replay: \"last_runs\" limits a \"pattern\"; give one")
            }
            return .replay(ReplayRequest(id: id, pattern: pattern, ranges: ranges, lastRuns: lastRuns))
        default:
            throw JSONWireError(.unknownOp, "unknown op \"\(f.op.prefix(64))\"")
        }
    }

    /// Reads the fields of one submit (a `submit` message or an element of `submit_batch`'s `runs`).
    static func submitRequest(_ f: MessageFields, id: String) throws(JSONWireError) -> SubmitRequest {
        let flow = try f.string("flow")
        guard !flow.isEmpty, flow.utf8.count <= 128 else {
            throw JSONWireError(.badField, "submit: field \"flow\" must be 1–128 bytes")
        }
        let run: String? = try f.optionalString("run")
        if let run, let problem = PoolNames.problem(runId: run) {
            throw JSONWireError(.badField, "submit: \(problem)")
        }
        return SubmitRequest(
            id: id,
            flow: flow,
            namespace: try f.namespace(),
            runId: run,
            input: f.value("input"),
            reply: try f.bool("reply", default: true),
            maxAttempts: try f.optionalInt("max_attempts", min: 1, max: PoolProtocol.maxAttempts),
            deadlineMilliseconds: try f.optionalInt("deadline_ms", min: 1, max: PoolProtocol.maxDeadlineMilliseconds),
            requireWorker: try f.bool("require_worker", default: false)
        )
    }
}

extension JSONWireError.Code {
    /// The message's `op` is not one this endpoint understands.
    public static let unknownOp = JSONWireError.Code(rawValue: "unknown_op")
}

extension MessageFields {
    init(object: [String: JSONValue], op: String) {
        self.object = object
        self.op = op
    }
}

/// A run submitted to the pool.
public struct SubmitRequest: Sendable, Hashable {
    /// The client's request id, echoed in `accepted`, `error` and `result`.
    public var id: String
    /// The registered flow name, such as `agent4`.
    public var flow: String
    /// The namespace the run's events are published under.
    public var namespace: String
    /// The run id; the coordinator generates one when nil.
    public var runId: String?
    /// The flow's input.
    public var input: JSONValue
    /// Whether the coordinator sends the final `result` to this client.
    public var reply: Bool
    /// Attempts before the run fails with `attempts_exhausted`; the coordinator's default when nil.
    public var maxAttempts: Int?
    /// Milliseconds from acceptance by which the run must have ended; past it, the run ends with an `error`
    /// (`deadline_exceeded`) and its attempt is cancelled on its worker. None when nil.
    public var deadlineMilliseconds: Int?
    /// Refuse the run (`no_worker_for_flow`) instead of queueing it when no live worker offers its flow.
    public var requireWorker: Bool

    public init(
        id: String,
        flow: String,
        namespace: String,
        runId: String? = nil,
        input: JSONValue,
        reply: Bool = true,
        maxAttempts: Int? = nil,
        deadlineMilliseconds: Int? = nil,
        requireWorker: Bool = false
    ) {
        self.requireWorker = requireWorker
        self.deadlineMilliseconds = deadlineMilliseconds
        self.id = id
        self.flow = flow
        self.namespace = namespace
        self.runId = runId
        self.input = input
        self.reply = reply
        self.maxAttempts = maxAttempts
    }
}

/// What one subscriber received, missed and repaired, as it reports it (`subscriber_report`).
public struct SubscriberReport: Sendable, Hashable {
    public var id: String
    /// A name unique to the subscription, chosen by the subscriber.
    public var subscriber: String
    public var pattern: String
    public var host: String
    public var pid: Int
    public var received: Int
    public var delivered: Int
    public var gaps: Int
    public var repaired: Int
    public var lost: Int
    public var bufferDrops: Int

    public init(
        id: String,
        subscriber: String,
        pattern: String,
        host: String,
        pid: Int,
        received: Int,
        delivered: Int,
        gaps: Int,
        repaired: Int,
        lost: Int,
        bufferDrops: Int
    ) {
        self.id = id
        self.subscriber = subscriber
        self.pattern = pattern
        self.host = host
        self.pid = pid
        self.received = received
        self.delivered = delivered
        self.gaps = gaps
        self.repaired = repaired
        self.lost = lost
        self.bufferDrops = bufferDrops
    }
}

/// Which stored events a client wants back.
public struct ReplayRequest: Sendable, Hashable {
    public var id: String
    /// A subscription pattern (`ns`, `ns/run`, `prefix*`): every stored event of every matching run.
    public var pattern: String?
    /// Specific ranges, for gap repair.
    public var ranges: [ReplayRange]
    /// Only the newest this many runs the pattern selects (nil: all of them).
    public var lastRuns: Int?

    public init(id: String, pattern: String? = nil, ranges: [ReplayRange] = [], lastRuns: Int? = nil) {
        self.id = id
        self.pattern = pattern
        self.ranges = ranges
        self.lastRuns = lastRuns
    }
}

/// A range of one run's events: `fromSeq...toSeq` of one attempt (the current one when `attempt` is nil).
public struct ReplayRange: Sendable, Hashable {
    public var namespace: String
    public var runId: String
    public var attempt: Int?
    public var fromSeq: Int
    public var toSeq: Int?

    public init(namespace: String, runId: String, attempt: Int? = nil, fromSeq: Int = 1, toSeq: Int? = nil) {
        self.namespace = namespace
        self.runId = runId
        self.attempt = attempt
        self.fromSeq = fromSeq
        self.toSeq = toSeq
    }
}

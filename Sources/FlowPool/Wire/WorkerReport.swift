import FlowCore

/// A message from a worker (DEALER) to the coordinator's worker endpoint (ROUTER).
///
/// One JSON frame, except `result`, which is followed by the terminal event's topic and envelope frames, and
/// `results`, which is followed by those of each of its results, in order.
public enum WorkerReport: Sendable, Hashable {
    /// Announces the worker; sent on connect and whenever the coordinator answers `reregister`.
    case hello(WorkerHello)
    /// Grants the coordinator `credit` more jobs (one per free execution slot).
    case ready(credit: Int)
    /// Liveness, every heartbeat interval.
    case heartbeat(inFlight: Int, completed: Int, draining: Bool)
    /// Liveness of worker `worker` while a flow step has held its socket loop for `busyMilliseconds` (a worker
    /// running its flows on the loop, `--executor loop`, cannot heartbeat then); sent every heartbeat interval
    /// from a socket of its own, whose routing id is not the worker's.
    /// `credential` is the one the coordinator gave the worker in `registered`: it proves who sends the report.
    case stalled(worker: String, busyMilliseconds: Int, credential: String)
    /// The worker has received these attempts (job id, attempt).
    case ack([JobAttempt])
    /// An attempt ended.
    case result(WorkerResult)
    /// Several attempts ended (to a coordinator that answered the worker's `hello` with `batch_results`).
    case results(WorkerResults)
    /// The worker is leaving after finishing what it held.
    case bye

    /// Encodes the report as its frames.
    public var frames: [[UInt8]] {
        switch self {
        case .hello(let h):
            return [
                PoolProtocol.message(
                    "hello",
                    [
                        "worker": .string(h.workerId), "host": .string(h.host), "pid": .int(h.pid),
                        "concurrency": .int(h.concurrency), "flows": .array(h.flows.map { .string($0) }),
                        "batch_jobs": .bool(h.batchJobs), "batch_results": .bool(h.batchResults),
                    ]
                )
            ]
        case .ready(let credit): return [PoolProtocol.message("ready", ["credit": .int(credit)])]
        case .heartbeat(let inFlight, let completed, let draining):
            return [
                PoolProtocol.message(
                    "heartbeat",
                    ["in_flight": .int(inFlight), "completed": .int(completed), "draining": .bool(draining)]
                )
            ]
        case .stalled(let worker, let busy, let credential):
            return [
                PoolProtocol.message(
                    "stalled",
                    ["worker": .string(worker), "busy_ms": .int(busy), "credential": .string(credential)]
                )
            ]
        case .ack(let attempts):
            var w = JSONWriter(capacity: 32 + 40 * attempts.count)
            PoolProtocol.head(&w, "ack")
            if attempts.count == 1, let a = attempts.first {
                w.raw(",\"job\":")
                w.string(a.job)
                w.raw(",\"attempt\":")
                w.int(a.attempt)
            } else {
                w.raw(",\"jobs\":[")
                for (i, a) in attempts.enumerated() {
                    w.raw(i == 0 ? "{\"job\":" : ",{\"job\":")
                    w.string(a.job)
                    w.raw(",\"attempt\":")
                    w.int(a.attempt)
                    w.byte(UInt8(ascii: "}"))
                }
                w.byte(UInt8(ascii: "]"))
            }
            w.byte(UInt8(ascii: "}"))
            return [w.bytes]
        case .result(let r):
            var w = JSONWriter(capacity: 128)
            PoolProtocol.head(&w, "result")
            w.byte(UInt8(ascii: ","))
            r.writeFields(&w)
            w.byte(UInt8(ascii: "}"))
            return [w.bytes, r.terminal.topic, r.terminal.envelope]
        case .results(let batch):
            return WorkerResults.frames(
                elements: batch.results.map(\.element),
                terminals: batch.results.map(\.terminal)
            )
        case .bye: return [PoolProtocol.message("bye", [:])]
        }
    }

    /// Decodes a report from its frames (routing identity already removed).
    /// - Throws: ``JSONWireError``.
    public static func decode(_ frames: [[UInt8]]) throws(JSONWireError) -> WorkerReport {
        guard let first = frames.first else { throw JSONWireError(.badField, "empty message") }
        // Most messages from a busy worker are `results`: read those without a JSON value tree.
        if let batch = WorkerResults.decodeDirect(frames) { return .results(batch) }
        if let report = decodeDirectAckOrReady(frames) { return report }
        return try decodeGeneral(frames, first: first)
    }

    /// Reads `ack` and `ready` written the way workers write them — `{"v":1,"op":"ack","jobs":[{"job":…,
    /// "attempt":…}, …]}`, `{"v":1,"op":"ack","job":…,"attempt":…}`, `{"v":1,"op":"ready","credit":…}` — straight
    /// from the bytes. Returns nil for anything else, and for anything it would reject: ``decodeGeneral(_:first:)``
    /// then decides, with its error messages, so both paths accept exactly the same.
    static func decodeDirectAckOrReady(_ frames: [[UInt8]]) -> WorkerReport? {
        guard frames.count == 1 else { return nil }
        return frames[0].withUnsafeBytes { bytes -> WorkerReport? in
            var p = JSONParser(bytes)
            do throws(JSONWireError) {
                if p.consume(#"{"v":1,"op":"ready","credit":"#) {
                    guard let credit = try p.readCount(), credit >= 1, try p.peek() == UInt8(ascii: "}") else {
                        return nil
                    }
                    p.index += 1
                    try p.expectEnd()
                    return .ready(credit: credit)
                }
                guard p.consume(#"{"v":1,"op":"ack","#) else { return nil }
                let attempts: [JobAttempt]
                if p.consume(#""jobs":["#) {
                    let read = try p.readElements(limit: 100_000) { p throws(JSONWireError) -> JobAttempt? in
                        guard try p.peek() == UInt8(ascii: "{") else { return nil }
                        p.index += 1
                        return try readAttemptMembers(&p)
                    }
                    guard let read, try p.peek() == UInt8(ascii: "}") else { return nil }
                    p.index += 1
                    attempts = read
                } else {
                    guard let one = try readAttemptMembers(&p) else { return nil }
                    attempts = [one]
                }
                try p.expectEnd()
                return .ack(attempts)
            } catch {
                return nil
            }
        }
    }

    /// Reads `"job":"…","attempt":n}` (the parser stands at `"job"`) through the closing brace.
    private static func readAttemptMembers(_ p: inout JSONParser) throws(JSONWireError) -> JobAttempt? {
        guard p.consume(#""job":"#), try p.peek() == UInt8(ascii: "\"") else { return nil }
        let job = try p.parseString()
        guard p.consume(#","attempt":"#), let attempt = try p.readCount(), attempt >= 1,
            try p.peek() == UInt8(ascii: "}")
        else { return nil }
        p.index += 1
        return JobAttempt(job: job, attempt: attempt)
    }

    /// Decodes a report through a JSON value tree.
    static func decodeGeneral(_ frames: [[UInt8]], first: [UInt8]) throws(JSONWireError) -> WorkerReport {
        let f = try MessageFields(frame: first)
        if f.op == "results" { return .results(try WorkerResults.decode(f, frames: frames)) }
        let expected = f.op == "result" ? 3 : 1
        guard frames.count == expected else {
            throw JSONWireError(.badField, "\(f.op): expected \(expected) frame(s), got \(frames.count)")
        }
        switch f.op {
        case "hello":
            let flows = f.value("flows").arrayValue?.compactMap(\.stringValue) ?? []
            // Kept for as long as the worker lives.
            guard flows.count <= PoolProtocol.maxWorkerFlows, flows.allSatisfy({ (1...128).contains($0.utf8.count) })
            else {
                throw JSONWireError(
                    .badField,
                    "hello: at most \(PoolProtocol.maxWorkerFlows) flows, each name 1 to 128 bytes"
                )
            }
            let worker = try f.string("worker")
            let host = try f.optionalString("host") ?? ""
            // Kept for as long as the worker lives, and shown by `status`.
            guard (1...256).contains(worker.utf8.count), host.utf8.count <= 256 else {
                throw JSONWireError(.badField, "hello: worker is 1 to 256 bytes, host at most 256")
            }
            return .hello(
                WorkerHello(
                    workerId: worker,
                    host: host,
                    pid: try f.optionalInt("pid") ?? 0,
                    concurrency: try f.int("concurrency", min: 1, max: PoolProtocol.maxConcurrency),
                    flows: flows,
                    batchJobs: try f.bool("batch_jobs", default: false),
                    batchResults: try f.bool("batch_results", default: false)
                )
            )
        case "ready": return .ready(credit: try f.int("credit", min: 1))
        case "heartbeat":
            return .heartbeat(
                inFlight: try f.int("in_flight"),
                completed: try f.int("completed"),
                draining: try f.bool("draining", default: false)
            )
        case "stalled":
            return .stalled(
                worker: try f.string("worker"),
                busyMilliseconds: try f.int("busy_ms"),
                credential: try f.optionalString("credential") ?? ""
            )
        case "ack":
            if let list = f.object["jobs"], !list.isNull {
                guard let items = list.arrayValue, items.count <= 100_000 else {
                    throw JSONWireError(.badField, "ack: \"jobs\" must be an array")
                }
                var attempts: [JobAttempt] = []
                attempts.reserveCapacity(items.count)
                for item in items {
                    guard case .object(let o) = item else {
                        throw JSONWireError(.badField, "ack: each job is an object")
                    }
                    let a = MessageFields(object: o, op: "ack")
                    attempts.append(JobAttempt(job: try a.string("job"), attempt: try a.int("attempt", min: 1)))
                }
                return .ack(attempts)
            }
            return .ack([JobAttempt(job: try f.string("job"), attempt: try f.int("attempt", min: 1))])
        case "result":
            return .result(try WorkerResult(fields: f, terminal: RawEvent(topic: frames[1], envelope: frames[2])))
        case "bye": return .bye
        default: throw JSONWireError(.unknownOp, "unknown op \"\(f.op.prefix(64))\"")
        }
    }
}

/// One attempt of one job.
public struct JobAttempt: Sendable, Hashable {
    public var job: String
    public var attempt: Int

    public init(job: String, attempt: Int) {
        self.job = job
        self.attempt = attempt
    }
}

/// A worker's introduction.
public struct WorkerHello: Sendable, Hashable {
    public var workerId: String
    public var host: String
    public var pid: Int
    /// How many runs the worker executes at once.
    public var concurrency: Int
    /// The flows it can run.
    public var flows: [String]
    /// Whether it takes several jobs in one `jobs` message.
    public var batchJobs: Bool
    /// Whether it can send several results in one `results` message (it does once the coordinator answers
    /// with `registered` and `batch_results: true`).
    public var batchResults: Bool

    public init(
        workerId: String,
        host: String,
        pid: Int,
        concurrency: Int,
        flows: [String],
        batchJobs: Bool = false,
        batchResults: Bool = false
    ) {
        self.workerId = workerId
        self.host = host
        self.pid = pid
        self.concurrency = concurrency
        self.flows = flows
        self.batchJobs = batchJobs
        self.batchResults = batchResults
    }
}

/// The end of one attempt, as a worker reports it.
public struct WorkerResult: Sendable, Hashable {
    public var job: String
    public var attempt: Int
    public var status: RunResult.Status
    public var result: JSONValue
    public var errorCode: PoolErrorCode?
    public var errorMessage: String?
    /// The attempt's terminal event, exactly as published on the event bus.
    public var terminal: RawEvent

    public init(
        job: String,
        attempt: Int,
        status: RunResult.Status,
        result: JSONValue,
        errorCode: PoolErrorCode? = nil,
        errorMessage: String? = nil,
        terminal: RawEvent
    ) {
        self.job = job
        self.attempt = attempt
        self.status = status
        self.result = result
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.terminal = terminal
    }
}

/// A message from the coordinator's worker endpoint to one worker.
public enum WorkerCommand: Sendable, Hashable {
    /// Run this attempt of this job.
    case job(JobAssignment)
    /// Run these attempts (one message for the jobs dispatched to a worker at once; workers that said
    /// `batch_jobs` in their `hello`).
    case jobs([JobAssignment])
    /// The coordinator does not know this worker (it restarted, or declared the worker dead): send `hello` and
    /// `ready` again.
    case reregister
    /// A report was rejected.
    case error(code: PoolErrorCode, message: String)
    /// Answer to a `heartbeat` with `draining: true`: no job will follow this message.
    case drainAck
    /// Answer to a `hello`: the coordinator knows the worker; when `batchResults` is true it takes `results`
    /// messages from it. `credential` goes with every event message and `stalled` report the worker sends.
    case registered(batchResults: Bool, credential: String)
    /// Stop running this attempt (a client cancelled the run, its deadline passed, or its lease expired and it
    /// was dispatched again). Its result, if one still comes, is discarded.
    case cancel(job: String, attempt: Int, reason: String)

    public var frame: [UInt8] {
        switch self {
        case .job(let j):
            // Written member by member (one per run dispatched), in the order of the direct job reader.
            var w = JSONWriter(
                capacity: 96 + j.job.utf8.count + j.flow.utf8.count + j.namespace.utf8.count + j.runId.utf8.count
                    + (j.input.isNull ? 0 : j.input.approximateByteCount)
            )
            PoolProtocol.head(&w, "job")
            w.raw(",\"job\":")
            w.string(j.job)
            w.raw(",\"attempt\":")
            w.int(j.attempt)
            w.raw(",\"flow\":")
            w.string(j.flow)
            w.raw(",\"ns\":")
            w.string(j.namespace)
            w.raw(",\"run\":")
            w.string(j.runId)
            if !j.input.isNull {
                w.raw(",\"input\":")
                w.value(j.input)
            }
            w.byte(UInt8(ascii: "}"))
            return w.bytes
        case .jobs(let list): return Self.jobsFrame(list.map { WorkerCommand.job($0).frame })
        case .reregister: return PoolProtocol.message("reregister", [:])
        case .drainAck: return PoolProtocol.message("drain_ack", [:])
        case .registered(let batchResults, let credential):
            return PoolProtocol.message(
                "registered",
                ["batch_results": .bool(batchResults), "credential": .string(credential)]
            )
        case .error(let code, let message):
            return PoolProtocol.message("error", ["code": .string(code.rawValue), "message": .string(message)])
        case .cancel(let job, let attempt, let reason):
            return PoolProtocol.message(
                "cancel",
                ["job": .string(job), "attempt": .int(attempt), "reason": .string(reason)]
            )
        }
    }

    /// A `jobs` message from job messages already encoded (each becomes one element of `jobs`, byte for byte).
    static func jobsFrame(_ jobs: [[UInt8]]) -> [UInt8] {
        PoolProtocol.arrayMessage("jobs", "jobs", jobs)
    }

    private static func assignment(_ f: MessageFields) throws(JSONWireError) -> JobAssignment {
        JobAssignment(
            job: try f.string("job"),
            attempt: try f.int("attempt", min: 1),
            flow: try f.string("flow"),
            namespace: try f.namespace(),
            runId: try f.runId(),
            input: f.value("input")
        )
    }

    /// Decodes a command frame.
    public static func decode(_ frames: [[UInt8]]) throws(JSONWireError) -> WorkerCommand {
        guard frames.count == 1 else { throw JSONWireError(.badField, "expected 1 frame, got \(frames.count)") }
        if let jobs = frames[0].withUnsafeBytes({ decodeJobs($0) }) { return jobs }
        return try decodeGeneral(frames[0])
    }

    /// Decodes a command frame through a JSON value tree.
    static func decodeGeneral(_ frame: [UInt8]) throws(JSONWireError) -> WorkerCommand {
        let f = try MessageFields(frame: frame)
        switch f.op {
        case "job":
            return .job(try assignment(f))
        case "jobs":
            guard let items = f.object["jobs"]?.arrayValue, !items.isEmpty, items.count <= 100_000 else {
                throw JSONWireError(.badField, "jobs: \"jobs\" must be a non-empty array")
            }
            var list: [JobAssignment] = []
            list.reserveCapacity(items.count)
            for item in items {
                guard case .object(let o) = item else { throw JSONWireError(.badField, "jobs: each job is an object") }
                list.append(try assignment(MessageFields(object: o, op: "job")))
            }
            return .jobs(list)
        case "reregister": return .reregister
        case "drain_ack": return .drainAck
        case "registered":
            return .registered(
                batchResults: try f.bool("batch_results", default: false),
                credential: try f.optionalString("credential") ?? ""
            )
        case "error": return .error(code: PoolErrorCode(try f.string("code")), message: try f.string("message"))
        case "cancel":
            return .cancel(
                job: try f.string("job"),
                attempt: try f.int("attempt", min: 1),
                reason: try f.optionalString("reason") ?? ""
            )
        default: throw JSONWireError(.unknownOp, "unknown op \"\(f.op.prefix(64))\"")
        }
    }
}

/// One attempt of a job, as dispatched to a worker.
public struct JobAssignment: Sendable, Hashable {
    public var job: String
    public var attempt: Int
    public var flow: String
    public var namespace: String
    public var runId: String
    public var input: JSONValue

    public init(job: String, attempt: Int, flow: String, namespace: String, runId: String, input: JSONValue) {
        self.job = job
        self.attempt = attempt
        self.flow = flow
        self.namespace = namespace
        self.runId = runId
        self.input = input
    }
}

import FlowCore
import FlowPool
import FuzzKit

/// A pool around the coordinator's state machine, driven by fuzz input: clients that submit, three workers that
/// take jobs and send acks, events and results (on time, late, twice, for jobs they do not hold, with another's
/// credential), and a clock. After every step it checks what docs/PROTOCOL.md promises about runs; at the end
/// a well-behaved worker joins and every accepted run must finish.
///
/// Peers see the coordinator only through the frames it sends them, decoded as a peer would.
struct PoolScenario {
    /// One input step; the input's next byte picks it (modulo the number of steps).
    enum Step: Int, CaseIterable {
        case submit, submitBatch, hello, ready, heartbeat, ack, result, results, event, terminalEvent, eventBatch
        case bye, stalled, tick, unreachable, drain, getResult, cancel
    }

    /// Most steps one input takes.
    static let maxSteps = 64

    /// A worker as it sees the pool.
    struct Peer {
        let identity: [UInt8]
        /// The credential from the coordinator's `registered`, once it came.
        var credential: String?
        /// The attempts dispatched to it that it has not reported an end of.
        var held: [JobAssignment] = []
        /// The last seq it published per attempt (key: job and attempt).
        var seqs: [String: Int] = [:]

        init(_ name: String) { identity = Array(name.utf8) }

        mutating func nextSeq(_ a: JobAssignment) -> Int {
            let key = "\(a.job)#\(a.attempt)"
            let seq = (seqs[key] ?? 0) + 1
            seqs[key] = seq
            return seq
        }
    }

    /// What the pool has seen of one accepted run.
    struct Run {
        let runKey: String
        /// The client its result goes to, when the submit asked for it (the newest submit of the run that asked).
        var client: [UInt8]?
        /// Attempts it may have.
        let maxAttempts: Int
        /// The last attempt dispatched.
        var attempt = 0
        /// The highest seq published of that attempt.
        var lastSeq = 0
        var resultsPushed = 0
        var terminalsPublished = 0
        /// The result pushed to the client.
        var pushed: RunResult?
        /// Results pushed again, to submits of the run after it ended (`accepted` with `existing`).
        var resultsRepeated = 0
    }

    private var driver = CoordinatorStateDriver()
    private var now = 1_000.0
    /// The workers of the fuzzed steps, then the one that finishes the runs.
    private var peers = ["w0", "w1", "w2", "closer"].map(Peer.init)
    private let clients = [Array("c0".utf8), Array("c1".utf8)]
    private var requestCount = 0
    /// The submits sent, by request id.
    private var submits: [String: SubmitRequest] = [:]
    /// Accepted runs by job id.
    private var runs: [String: Run] = [:]
    /// The job id of each active run, by run key.
    private var active: [String: String] = [:]
    /// The job id of the last run that ended, by run key.
    private var ended: [String: String] = [:]

    /// Workers that the fuzzed steps drive (the last peer joins only at the end).
    private var fuzzedPeers: Int { peers.count - 1 }

    // MARK: Steps

    /// Takes one step chosen by the input, then checks the runs.
    mutating func step(_ input: inout FuzzInput) {
        let step = Step.allCases[input.pick(0...(Step.allCases.count - 1))]
        let k = input.pick(0...(fuzzedPeers - 1))
        switch step {
        case .submit:
            let client = input.pick(clients)
            absorb(driver.submit(request(&input), client: client, now: now))
        case .submitBatch:
            let client = input.pick(clients)
            requestCount += 1
            let requests = (0..<input.pick(1...3)).map { _ in request(&input) }
            absorb(driver.submitBatch(id: "b\(requestCount)", requests, client: client, now: now))
        case .hello:
            let hello = WorkerHello(
                workerId: "worker-\(k)",
                host: "host",
                pid: k,
                concurrency: input.pick(1...4),
                flows: ["agent4"],
                batchJobs: input.bool(),
                batchResults: input.bool()
            )
            send(.hello(hello), from: k)
        case .ready:
            send(.ready(credit: input.pick(1...4)), from: k)
        case .heartbeat:
            send(.heartbeat(inFlight: peers[k].held.count, completed: 0, draining: input.pick(0...7) == 0), from: k)
        case .ack:
            send(.ack([attempt(&input, of: k)]), from: k)
        case .result:
            let r = result(&input, from: k)
            send(.result(r), from: k)
        case .results:
            let batch = (0..<input.pick(1...3)).map { _ in result(&input, from: k) }
            send(.results(WorkerResults(batch)), from: k)
        case .event, .terminalEvent:
            guard let a = pickHeld(&input, of: k) else { break }
            let raw = event(a, from: k, terminal: step == .terminalEvent, &input)
            publish([raw], from: k, &input)
        case .eventBatch:
            var events: [RawEvent] = []
            for _ in 0..<input.pick(1...4) {
                guard let a = pickHeld(&input, of: k) else { break }
                events.append(event(a, from: k, terminal: input.pick(0...3) == 0, &input))
            }
            publish(events, from: k, &input)
        case .bye:
            send(.bye, from: k)
            peers[k].held = []
            peers[k].credential = nil
        case .stalled:
            let credential = input.bool() ? peers[k].credential ?? "" : "00.00"
            send(.stalled(worker: "worker-\(k)", busyMilliseconds: 100, credential: credential), from: k)
        case .tick:
            // Now and then the coordinator itself was held up: it had read its peers' messages only until a
            // moment ago.
            now += input.pick([0.05, 0.3, 1, 2.5, 4, 61])
            let workersHeardAt = now - input.pick([0, 0, 0.5, 3])
            let eventsHeardAt = now - input.pick([0, 0, 0.5, 3])
            absorb(driver.tick(now: now, workersHeardAt: workersHeardAt, eventsHeardAt: eventsHeardAt))
        case .unreachable:
            absorb(driver.workerUnreachable(peers[k].identity, now: now))
        case .drain:
            driver.beginDrain()
        case .getResult:
            getResult(namespace: input.pick(["sales", "stock"]), runId: input.pick(["r0", "r1", "r2", "fz-1"]))
        case .cancel:
            requestCount += 1
            let (namespace, runId) = (input.pick(["sales", "stock"]), input.pick(["r0", "r1", "r2", "fz-1"]))
            let client = input.pick(clients)
            absorb(driver.cancel(id: "x\(requestCount)", namespace: namespace, runId: runId, client: client, now: now))
        }
        checkRuns()
    }

    /// Lets every worker of the fuzzed steps fall silent, has one well-behaved worker finish what is left, and
    /// checks that every accepted run then ended with one terminal event and, when asked for, one result.
    mutating func finish() {
        now += 10
        absorb(driver.tick(now: now, workersHeardAt: now, eventsHeardAt: now))
        let k = peers.count - 1
        let hello = WorkerHello(workerId: "closer", host: "host", pid: 1, concurrency: 10_000, flows: ["agent4"])
        send(.hello(hello), from: k)
        send(.ready(credit: 10_000), from: k)
        var rounds = 0
        while !peers[k].held.isEmpty, rounds < 4 {
            rounds += 1
            let held = peers[k].held
            for a in held {
                send(.ack([JobAttempt(job: a.job, attempt: a.attempt)]), from: k)
                let terminal = event(a, seq: peers[k].nextSeq(a), type: .final)
                if let credential = peers[k].credential {
                    absorb(
                        driver.ingest(
                            topic: terminal.topic,
                            envelope: terminal.envelope,
                            credential: credential,
                            now: now
                        )
                    )
                }
                peers[k].held.removeAll { $0 == a }
                send(
                    .result(
                        WorkerResult(
                            job: a.job,
                            attempt: a.attempt,
                            status: .completed,
                            result: "done",
                            terminal: terminal
                        )
                    ),
                    from: k
                )
            }
        }
        // Past the terminal grace, with the worker alive: a result still waiting for its terminal event ends with
        // the copy it carried.
        now += 4
        send(.heartbeat(inFlight: 0, completed: 0, draining: false), from: k)
        absorb(driver.tick(now: now, workersHeardAt: now, eventsHeardAt: now))
        FuzzCheck.require(
            driver.activeRuns == 0,
            "\(driver.activeRuns) runs still active after a worker took every job (\(active.keys.sorted()))"
        )
        for (job, run) in runs {
            FuzzCheck.require(
                run.terminalsPublished == 1,
                "run \(run.runKey) (job \(job)) ended with \(run.terminalsPublished) terminal events"
            )
            if run.client != nil {
                FuzzCheck.require(
                    run.resultsPushed == 1,
                    "run \(run.runKey) (job \(job)) ended with \(run.resultsPushed) results pushed"
                )
            }
        }
    }

    // MARK: Peers' messages

    /// A submit with a fresh request id.
    private mutating func request(_ input: inout FuzzInput) -> SubmitRequest {
        requestCount += 1
        let id = "q\(requestCount)"
        let reply = input.pick(0...3) != 0
        let request = SubmitRequest(
            id: id,
            flow: "agent4",
            namespace: input.pick(["sales", "stock"]),
            runId: input.pick([nil, "r0", "r1", "r2"] as [String?]),
            input: ["n": .int(requestCount)],
            reply: reply,
            maxAttempts: input.pick([nil, 1, 2, 3] as [Int?]),
            deadlineMilliseconds: input.pick([nil, nil, nil, 500, 5_000] as [Int?])
        )
        submits[id] = request
        return request
    }

    /// One of the attempts worker `k` holds; now and then one another worker holds, or none at all.
    private func pickHeld(_ input: inout FuzzInput, of k: Int) -> JobAssignment? {
        let owner = input.pick(0...7) == 0 ? input.pick(0...(fuzzedPeers - 1)) : k
        let held = peers[owner].held
        guard !held.isEmpty else { return nil }
        return input.pick(held)
    }

    /// An attempt for an ack: held, or made up.
    private func attempt(_ input: inout FuzzInput, of k: Int) -> JobAttempt {
        guard let a = pickHeld(&input, of: k) else { return JobAttempt(job: "fz-\(input.pick(1...4))", attempt: 1) }
        return JobAttempt(job: a.job, attempt: a.attempt)
    }

    /// A result for an attempt worker `k` holds (which it then forgets), or for one it does not, with a terminal
    /// event that is right or wrong.
    private mutating func result(_ input: inout FuzzInput, from k: Int) -> WorkerResult {
        let a =
            pickHeld(&input, of: k)
            ?? JobAssignment(
                job: "fz-\(input.pick(1...4))",
                attempt: 1,
                flow: "agent4",
                namespace: "sales",
                runId: "r0",
                input: nil
            )
        if input.pick(0...3) != 0 { peers[k].held.removeAll { $0 == a } }
        let failed = input.pick(0...3) == 0
        let terminal: RawEvent =
            switch input.pick(0...3) {
            case 0: event(a, seq: 1, type: .chunk)
            case 1: RawEvent(topic: Array("garbage".utf8), envelope: [])
            default: event(a, seq: peers[k].nextSeq(a), type: failed ? .error : .final)
            }
        return WorkerResult(
            job: a.job,
            attempt: a.attempt + (input.pick(0...7) == 0 ? 1 : 0),
            status: failed ? .failed : .completed,
            result: failed ? nil : "done",
            errorCode: failed ? PoolErrorCode("flow_failed") : nil,
            errorMessage: failed ? "the flow threw" : nil,
            terminal: terminal
        )
    }

    /// An event of an attempt as worker `k` publishes it, now and then with a stale attempt or a repeated seq.
    private mutating func event(
        _ a: JobAssignment,
        from k: Int,
        terminal: Bool,
        _ input: inout FuzzInput
    ) -> RawEvent {
        var a = a
        var seq = peers[k].nextSeq(a)
        switch input.pick(0...7) {
        case 0: a.attempt = max(1, a.attempt - 1)
        case 1: seq = max(1, seq - 1)
        default: break
        }
        return event(a, seq: seq, type: terminal ? input.pick([.final, .error, .cancelled]) : .chunk)
    }

    private func event(_ a: JobAssignment, seq: Int, type: EventType) -> RawEvent {
        let wire = WireEvent(
            event: StreamEvent(
                namespace: a.namespace,
                runId: a.runId,
                seq: UInt64(seq),
                type: type,
                node: "node",
                timestamp: 1.5,
                content: ["text": "tok"]
            ),
            attempt: a.attempt
        )
        return RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
    }

    /// Sends events on the bus as one message (a single event or a batch) with worker `k`'s credential, another
    /// worker's, or none.
    private mutating func publish(_ events: [RawEvent], from k: Int, _ input: inout FuzzInput) {
        guard let first = events.first else { return }
        let credential: String? =
            switch input.pick(0...7) {
            case 0: nil
            case 1: peers[input.pick(0...(fuzzedPeers - 1))].credential
            default: peers[k].credential
            }
        if events.count == 1, input.bool() {
            absorb(
                driver.ingest(topic: first.topic, envelope: first.envelope, credential: credential, now: now)
            )
        } else {
            var body: [UInt8] = []
            for e in events { EventBatch.append(e, to: &body) }
            absorb(driver.ingest(topic: EventBatch.marker, envelope: body, credential: credential, now: now))
        }
    }

    /// Sends a report from worker `k` (its frames and their decoding have targets of their own).
    private mutating func send(_ report: WorkerReport, from k: Int) {
        absorb(driver.report(report, from: peers[k].identity, now: now))
    }

    /// Asks for a run's result: it is the one pushed when its last run ended, or none.
    private mutating func getResult(namespace: String, runId: String) {
        requestCount += 1
        let id = "g\(requestCount)"
        let runKey = "\(namespace)/\(runId)"
        switch driver.result(id: id, namespace: namespace, runId: runId) {
        case .result(let r):
            FuzzCheck.require(
                r.id == id && r.namespace == namespace && r.runId == runId && r.job == ended[runKey],
                "get_result \(id) for \(runKey) answered \(r); the last run that ended was \(ended[runKey] ?? "none")"
            )
            if var pushed = runs[r.job]?.pushed {
                pushed.id = id
                FuzzCheck.require(r == pushed, "get_result answered \(r), the result pushed was \(pushed)")
            }
        case .error(_, let code, _):
            FuzzCheck.require(code == .notFound, "get_result for \(runKey) failed with \(code)")
        default:
            fatalError("get_result for \(runKey) answered neither a result nor an error")
        }
    }

    // MARK: What the coordinator did

    /// Delivers what the coordinator sent to the peers, and checks each result and terminal event.
    private mutating func absorb(_ effects: [CoordinatorStateDriver.Effect]) {
        for effect in effects {
            switch effect {
            case .toWorker(let identity, let frames):
                let decoded = Result { try WorkerCommand.decode(frames) }
                guard let command = try? decoded.get() else {
                    fatalError("the coordinator sent a worker frames that do not decode: \(decoded)")
                }
                guard let k = peers.firstIndex(where: { $0.identity == identity }) else { continue }
                switch command {
                case .job(let a):
                    dispatched(a)
                    peers[k].held.append(a)
                case .jobs(let list):
                    for a in list { dispatched(a) }
                    peers[k].held += list
                case .registered(_, let credential): peers[k].credential = credential
                default: break
                }
            case .toClient(let identity, let frames):
                let decoded = Result { try ControlReply.decode(frames) }
                guard let reply = try? decoded.get() else {
                    fatalError("the coordinator sent a client frames that do not decode: \(decoded)")
                }
                switch reply {
                case .accepted, .acceptedExisting: accepted(reply, client: identity)
                case .acceptedBatch(_, let answers): for answer in answers { accepted(answer, client: identity) }
                case .cancelled(_, let job, let namespace, let runId, _):
                    FuzzCheck.require(
                        active["\(namespace)/\(runId)"] == nil && runs[job]?.terminalsPublished == 1,
                        "run \(namespace)/\(runId) was answered cancelled but did not end"
                    )
                default: break
                }
            case .pushResult(let identity, let result):
                guard var run = runs[result.job] else {
                    fatalError("a result was pushed for unknown job \(result.job)")
                }
                if run.terminalsPublished == 1 {
                    // A submit of the run after it ended: its kept result again, under that submit's id.
                    if let pushed = run.pushed {
                        var again = result
                        again.id = pushed.id
                        FuzzCheck.require(again == pushed, "a second submit of \(run.runKey) got another result")
                    }
                    run.resultsRepeated += 1
                    runs[result.job] = run
                    continue
                }
                FuzzCheck.require(run.client == identity, "the result of \(run.runKey) went to another client")
                run.resultsPushed += 1
                run.pushed = result
                FuzzCheck.require(
                    result.attempts == run.attempt,
                    "the result of \(run.runKey) says \(result.attempts) attempts, \(run.attempt) were dispatched"
                )
                FuzzCheck.require(run.resultsPushed == 1, "a second result was pushed for \(run.runKey)")
                runs[result.job] = run
            case .publish(let raw):
                published(raw)
            }
        }
    }

    private mutating func accepted(_ reply: ControlReply, client: [UInt8]) {
        if case .acceptedExisting(let id, let job, let namespace, let runId) = reply {
            // A submit naming a run that is active (the newest client asking gets its result) or ended.
            let runKey = "\(namespace)/\(runId)"
            guard let request = submits[id], request.runId == runId, var run = runs[job] else {
                fatalError("\(id) was answered with existing job \(job), which it did not name or was never accepted")
            }
            FuzzCheck.require(run.runKey == runKey, "\(id) was answered with job \(job) of another run")
            if active[runKey] == job, request.reply {
                run.client = client
                runs[job] = run
            }
            return
        }
        guard case .accepted(let id, let job, let namespace, let runId) = reply else { return }
        let runKey = "\(namespace)/\(runId)"
        FuzzCheck.require(runs[job] == nil, "job id \(job) was accepted twice")
        FuzzCheck.require(active[runKey] == nil, "run \(runKey) was accepted again before it ended")
        guard let request = submits[id] else { fatalError("\(job) was accepted for request \(id), never sent") }
        runs[job] = Run(
            runKey: runKey,
            client: request.reply ? client : nil,
            maxAttempts: request.maxAttempts ?? CoordinatorStateDriver.maxAttempts
        )
        active[runKey] = job
    }

    /// An attempt was dispatched: the next one of its run, within the run's attempts.
    private mutating func dispatched(_ a: JobAssignment) {
        guard var run = runs[a.job] else { fatalError("job \(a.job) was dispatched but never accepted") }
        FuzzCheck.require(
            a.attempt == run.attempt + 1 && a.attempt <= run.maxAttempts,
            "\(run.runKey): attempt \(a.attempt) dispatched after attempt \(run.attempt) (at most \(run.maxAttempts))"
        )
        run.attempt = a.attempt
        run.lastSeq = 0
        runs[a.job] = run
    }

    /// An event was published: one of the current attempt of an active run; a terminal event the coordinator
    /// wrote itself follows the attempt's last published event.
    private mutating func published(_ raw: RawEvent) {
        let scanned = Result { try EnvelopeHeader.scan(topic: raw.topic, envelope: raw.envelope) }
        guard let header = try? scanned.get() else { fatalError("the coordinator published a bad event: \(scanned)") }
        guard let job = active[header.runKey], let run = runs[job] else {
            fatalError("the coordinator published \(header) of a run that is not active")
        }
        // (A run ended before any dispatch, by cancel or deadline, has its terminal event under attempt 1.)
        FuzzCheck.require(
            header.attempt == max(run.attempt, 1),
            "the coordinator published \(header) while attempt \(run.attempt) is the current one"
        )
        guard header.isTerminal else {
            runs[job]!.lastSeq = max(run.lastSeq, header.seq)
            return
        }
        if let event = try? WireEvent.decode(topic: raw.topic, envelope: raw.envelope), event.event.node == "flowpool" {
            FuzzCheck.require(
                header.seq == run.lastSeq + 1,
                "the coordinator's terminal event of \(header.runKey) has seq \(header.seq), after \(run.lastSeq)"
            )
        }
        runs[job]!.terminalsPublished += 1
        FuzzCheck.require(
            runs[job]!.terminalsPublished == 1,
            "a second terminal event was published for \(header.runKey)"
        )
        active[header.runKey] = nil
        ended[header.runKey] = job
    }

    /// A run's result is pushed with its terminal event, in the same step.
    private func checkRuns() {
        for run in runs.values where run.terminalsPublished > 0 || run.resultsPushed > 0 {
            FuzzCheck.require(
                run.client == nil ? run.resultsPushed == 0 : run.resultsPushed == run.terminalsPublished,
                "run \(run.runKey): \(run.resultsPushed) results pushed, \(run.terminalsPublished) terminal events"
            )
        }
    }
}

import FlowCore

/// The coordinator's bookkeeping as a pure state machine: jobs, leases, workers, terminal events, replay.
///
/// Every input (a client request, a worker report, an event from the bus, a clock tick) returns the
/// ``Action``s to carry out; the state machine never touches a socket, so it is tested without one.
/// Time is a monotonic clock in seconds supplied by the caller.
struct CoordinatorState {
    /// Something the coordinator's I/O loop must do.
    enum Action: Equatable, Sendable {
        /// Send frames to a worker's routing identity on the worker endpoint.
        case toWorker([UInt8], [[UInt8]])
        /// Send frames to a client's routing identity on the control endpoint.
        case toClient([UInt8], [[UInt8]])
        /// Push a run's result to the client that submitted it.
        case pushResult([UInt8], RunResult)
        /// Publish an event to subscribers.
        case publish(RawEvent)
        /// Log a notable transition.
        case log(String)
        /// Log a rejected message (at a limited rate: a peer may send any number).
        case rejected(String)
    }

    enum JobPhase {
        case queued
        /// Sent to `worker`; `acked` once the worker confirmed receipt.
        case leased(worker: [UInt8], ackDeadline: Double, leaseDeadline: Double, acked: Bool)
        /// The result of `worker`'s attempt is in; waiting for the attempt's terminal event from the bus (which
        /// follows all its events) until `deadline`. `fallback` is the result message's copy of the terminal
        /// event, validated only if it is needed.
        case awaitingTerminal(deadline: Double, fallback: RawEvent, worker: [UInt8])
    }

    /// A run's terminal event with the attempt and seq its envelope says, read once where it was validated.
    struct Terminal {
        var raw: RawEvent
        var attempt: Int
        var seq: Int
    }

    /// One accepted run. A class: the event path mutates it in place without copying its strings and input.
    final class Job {
        let id: String
        let flow: String
        let namespace: String
        let runId: String
        let runKey: String
        let input: JSONValue
        /// About how much memory `input` takes (``JSONValue/approximateByteCount``).
        let inputBytes: Int
        let client: [UInt8]?
        let requestId: String
        let maxAttempts: Int
        var attempt = 0
        var phase = JobPhase.queued
        /// The routing identity of the worker the current attempt was dispatched to: only its events, ack and
        /// result count for the attempt, even after the job went back to the queue.
        var holder: [UInt8]?
        /// Highest seq forwarded for the current attempt.
        var lastSeq = 0
        /// The current attempt's terminal event, when it arrived on the bus before the result.
        var busTerminal: Terminal?
        /// The accepted result, once there is one.
        var result: RunResult?
        /// The run's log in the replay buffer, once it has one.
        var replayLog: ReplayBuffer.RunLog?
        /// Set when the run is no longer active (its key may then be submitted again, as another job).
        var retired = false

        init(
            id: String,
            flow: String,
            namespace: String,
            runId: String,
            runKey: String,
            input: JSONValue,
            inputBytes: Int,
            client: [UInt8]?,
            requestId: String,
            maxAttempts: Int
        ) {
            self.id = id
            self.flow = flow
            self.namespace = namespace
            self.runId = runId
            self.runKey = runKey
            self.input = input
            self.inputBytes = inputBytes
            self.client = client
            self.requestId = requestId
            self.maxAttempts = maxAttempts
        }

        /// Whether `bytes` is this job's run key.
        func hasRunKey(_ bytes: UnsafeRawBufferPointer) -> Bool {
            let own = runKey.utf8
            guard own.count == bytes.count else { return false }
            return own.withContiguousStorageIfAvailable { UnsafeRawBufferPointer($0).hasSameBytes(as: bytes) }
                ?? own.elementsEqual(bytes)
        }
    }

    /// One registered worker. A class: dispatch and every finished run update it in place, where a struct in
    /// the table would go through the table's modify accessor (whose coroutine frame is allocated) each time.
    final class WorkerEntry {
        var id: String
        var credit = 0
        /// Jobs dispatched to the worker and not yet answered with a result (their phase is `leased`): with
        /// `credit`, at most `concurrency`.
        var leased = 0
        var jobs: Set<String> = []
        var lastSeen: Double
        var inFlight = 0
        var completed = 0
        var draining = false
        var concurrency = 0
        var host = ""
        var pid = 0
        /// Takes several jobs in one `jobs` message.
        var batchJobs = false

        init(id: String, lastSeen: Double) {
            self.id = id
            self.lastSeen = lastSeen
        }
    }

    let config: CoordinatorConfiguration
    let instanceId: String
    private(set) var counters = CoordinatorCounters()
    private(set) var jobs: [String: Job] = [:]
    /// Active runs: run key → job (the same object as in `jobs`; the event path needs one lookup).
    private(set) var runs: [String: Job] = [:]
    /// The jobs of the last events handled, most recent first: a worker's batch interleaves the events of the
    /// few runs its threads execute at once, so the next event's run is one of them most of the time.
    private var recentEventJobs: [Job] = []
    /// Most jobs in ``recentEventJobs``.
    static let recentEventJobsLimit = 4
    private(set) var queue = RingBuffer<String>()
    private(set) var workers: [[UInt8]: WorkerEntry] = [:]
    /// A finished run's result kept for `get_result`, with about how many bytes it takes.
    struct Retained {
        var result: RunResult
        var bytes: Int
    }

    /// Finished results by run key, the oldest forgotten first beyond ``CoordinatorConfiguration/resultRetention``
    /// results or ``CoordinatorConfiguration/resultRetentionBytes`` bytes.
    private(set) var finished: [String: Retained] = [:]
    /// The bytes of the results in `finished`.
    private(set) var finishedBytes = 0
    /// The latest report of each subscriber that sent one, and when it came.
    private var subscriberReports: [String: (report: SubscriberReport, at: Double)] = [:]
    private var finishedOrder = RingBuffer<String>()
    private(set) var replay: ReplayBuffer
    private(set) var draining = false
    private var nextJob = 0
    /// The inputs' bytes of the jobs in `jobs` (bounded by ``CoordinatorConfiguration/maxQueueBytes``).
    private(set) var activeInputBytes = 0
    /// The `replay` requests being answered, batch by batch as their peers read them.
    var replayCursors: ReplayCursors
    /// Issues and checks the credentials of workers' event messages and `stalled` reports.
    var credentials: WorkerCredentials

    /// - Parameter credentialKey: the key of workers' credentials; a fresh random one when nil.
    init(config: CoordinatorConfiguration, instanceId: String, credentialKey: [UInt8]? = nil) {
        self.config = config
        self.instanceId = instanceId
        self.credentials = credentialKey.map(WorkerCredentials.init(key:)) ?? WorkerCredentials()
        self.replay = ReplayBuffer(maxBytes: config.replayBytes, maxRuns: config.replayRuns)
        self.replayCursors = ReplayCursors(
            peerLimit: config.clientBufferBytes,
            totalLimit: config.clientBuffersTotalBytes
        )
        recentEventJobs.reserveCapacity(Self.recentEventJobsLimit)
        // Growing this table rehashes every entry; start it at its working size. The tables of active jobs stay
        // as small as the jobs in flight need: every run looks them up several times, and a table sized for a
        // full queue spreads those lookups over far more memory than the cache holds.
        finished.reserveCapacity(min(config.resultRetention, 1 << 17))
    }

    /// Jobs accepted and not yet finished (queued, leased or awaiting their terminal event).
    var activeJobs: Int { jobs.count }

    /// Whether a draining coordinator has nothing left to do.
    var isDrained: Bool { draining && jobs.isEmpty }

    // MARK: Clients

    /// Handles a submit from the client with routing identity `client`.
    mutating func submit(_ request: SubmitRequest, client: [UInt8], now: Double) -> [Action] {
        let answer = admit(request, client: client)
        return [reply(client, answer)] + dispatch(now: now)
    }

    /// Handles a batch of submits: one `accepted_batch` reply, then one round of dispatch.
    mutating func submitBatch(id: String, _ requests: [SubmitRequest], client: [UInt8], now: Double) -> [Action] {
        let answers = requests.map { admit($0, client: client) }
        return [reply(client, .acceptedBatch(id: id, answers: answers))] + dispatch(now: now)
    }

    /// Queues a run or says why not: `accepted` or `error`.
    private mutating func admit(_ request: SubmitRequest, client: [UInt8]) -> ControlReply {
        if draining {
            counters.submitsRejectedDraining += 1
            return .error(id: request.id, code: .draining, message: "the coordinator is shutting down")
        }
        let inputBytes = request.input.approximateByteCount
        let full: String? =
            if !jobs.isEmpty, activeInputBytes + inputBytes > config.maxQueueBytes {
                "\(jobs.count) accepted runs hold \(activeInputBytes >> 10) KiB of input and this one \(inputBytes >> 10) KiB more (limit \(config.maxQueueBytes >> 20) MiB, --max-queue-mb)"
            } else if queue.count >= config.maxQueue {
                "\(queue.count) jobs are waiting for a worker (limit \(config.maxQueue))"
            } else {
                nil
            }
        if let full {
            counters.submitsRejectedFull += 1
            let message = "the pool is full: \(full); retry later or add workers"
            return .error(id: request.id, code: .poolFull, message: message)
        }
        nextJob += 1
        let jobId = "\(instanceId)-\(nextJob)"
        let runId = request.runId ?? jobId
        let runKey = "\(request.namespace)/\(runId)"
        if runs[runKey] != nil {
            counters.submitsRejectedDuplicate += 1
            return .error(id: request.id, code: .duplicateRun, message: "run \(runKey) is already active")
        }
        let job = Job(
            id: jobId,
            flow: request.flow,
            namespace: request.namespace,
            runId: runId,
            runKey: runKey,
            input: request.input,
            inputBytes: inputBytes,
            client: request.reply ? client : nil,
            requestId: request.id,
            maxAttempts: request.maxAttempts ?? config.maxAttempts
        )
        jobs[jobId] = job
        runs[runKey] = job
        activeInputBytes += job.inputBytes
        queue.append(jobId)
        counters.jobsAccepted += 1
        return .accepted(id: request.id, job: jobId, namespace: request.namespace, runId: runId)
    }

    /// Answers `get_result`.
    func result(id: String, namespace: String, runId: String) -> ControlReply {
        let key = "\(namespace)/\(runId)"
        if var r = finished[key]?.result {
            r.id = id
            return .result(r)
        }
        if runs[key] != nil {
            return .error(id: id, code: .notFound, message: "run \(key) has not finished yet")
        }
        return .error(id: id, code: .notFound, message: "run \(key) is unknown or its result was evicted")
    }

    /// Stops accepting submits; jobs already accepted still run.
    mutating func beginDrain() { draining = true }

    // MARK: Workers

    /// Handles a report from the worker with routing identity `worker`.
    mutating func report(_ report: WorkerReport, from worker: [UInt8], now: Double) -> [Action] {
        switch report {
        case .hello(let hello):
            let entry = workers[worker] ?? WorkerEntry(id: hello.workerId, lastSeen: now)
            entry.id = hello.workerId
            entry.credit = 0
            entry.lastSeen = now
            entry.concurrency = hello.concurrency
            entry.host = hello.host
            entry.pid = hello.pid
            entry.batchJobs = hello.batchJobs
            let isNew = workers[worker] == nil
            workers[worker] = entry
            var actions: [Action] = []
            if isNew { actions.append(.log("worker \(hello.workerId) joined (\(hello.host) pid \(hello.pid))")) }
            // The credential its events must carry; and a worker that offers `results` sends them once told they
            // are understood.
            let registered = WorkerCommand.registered(
                batchResults: hello.batchResults,
                credential: credentials.credential(for: worker)
            )
            actions.append(.toWorker(worker, [registered.frame]))
            return actions
        case .ready(let credit):
            guard let entry = workers[worker] else { return [.toWorker(worker, [WorkerCommand.reregister.frame])] }
            entry.lastSeen = now
            // Credit is free slots: never more than the announced concurrency less the jobs the worker holds.
            // (Both numbers are range-checked where they are decoded, so the sum cannot overflow.)
            let room = max(0, entry.concurrency - entry.leased)
            let granted = entry.credit + credit
            if granted > room { counters.creditCapped += granted - room }
            entry.credit = min(granted, room)
            return dispatch(now: now)
        case .heartbeat(let inFlight, let completed, let draining):
            guard workers[worker] != nil else { return [.toWorker(worker, [WorkerCommand.reregister.frame])] }
            workers[worker]!.lastSeen = now
            workers[worker]!.inFlight = inFlight
            workers[worker]!.completed = completed
            workers[worker]!.draining = draining
            if draining {
                workers[worker]!.credit = 0
                return [.toWorker(worker, [WorkerCommand.drainAck.frame])]
            }
            return []
        case .stalled(_, _, let credential):
            // From the worker's own watchdog socket, whose routing id is not the worker's: the credential says
            // which worker it vouches for.
            guard let key = credentials.identity(Array(credential.utf8)) else {
                counters.rejectedForged += 1
                return [.rejected("a stalled report with a credential this coordinator did not issue")]
            }
            guard let entry = workers[key] else { return [] }
            entry.lastSeen = now
            counters.stallReports += 1
            return []
        case .ack(let attempts):
            workers[worker]?.lastSeen = now
            for a in attempts {
                guard let job = jobs[a.job], job.attempt == a.attempt else { continue }
                guard job.holder == worker else {
                    counters.rejectedForged += 1
                    continue
                }
                if case .leased(let w, let ackDeadline, let leaseDeadline, _) = job.phase {
                    job.phase = .leased(worker: w, ackDeadline: ackDeadline, leaseDeadline: leaseDeadline, acked: true)
                }
            }
            return []
        case .result(let r):
            workers[worker]?.lastSeen = now
            return accept(r, from: worker, now: now)
        case .results(let batch):
            workers[worker]?.lastSeen = now
            counters.resultBatches += 1
            counters.resultsBatched += batch.results.count
            var actions: [Action] = []
            for r in batch.results { actions += accept(r, from: worker, now: now) }
            return actions
        case .bye:
            guard let entry = workers.removeValue(forKey: worker) else { return [] }
            var actions: [Action] = [.log("worker \(entry.id) left")]
            for jobId in entry.jobs {
                // A worker says `bye` after handing over all its events, but they travel on another connection:
                // a run whose result is in keeps waiting (up to the terminal grace) for its terminal event.
                if let job = jobs[jobId], case .awaitingTerminal = job.phase { continue }
                actions += requeue(jobId, now: now, reason: "worker \(entry.id) left")
            }
            actions += dispatch(now: now)
            return actions
        }
    }

    private mutating func accept(_ r: WorkerResult, from worker: [UInt8], now: Double) -> [Action] {
        guard let job = jobs[r.job] else {
            counters.duplicateResults += 1
            return []
        }
        guard job.attempt == r.attempt, job.result == nil else {
            counters.duplicateResults += 1
            return []
        }
        guard job.holder == worker else {
            // Only the worker the attempt was dispatched to may end it.
            counters.rejectedForged += 1
            return [.rejected("a result for \(job.runKey) attempt \(r.attempt) from a worker that does not hold it")]
        }
        switch job.phase {
        case .queued:
            // The worker was declared dead but was not: its result still counts, and its death would cost it.
            removeFromQueue(job.id)
            workers[worker]?.jobs.insert(job.id)
        case .leased(let w, _, _, _):
            workers[w]?.leased -= 1
        case .awaitingTerminal:
            break
        }
        let result = RunResult(
            id: job.requestId,
            job: job.id,
            namespace: job.namespace,
            runId: job.runId,
            status: r.status,
            attempts: job.attempt,
            result: r.result,
            errorCode: r.errorCode,
            errorMessage: r.errorMessage
        )
        job.result = result
        job.phase = .awaitingTerminal(
            deadline: now + config.terminalGrace.seconds,
            fallback: r.terminal,
            worker: worker
        )
        if let terminal = job.busTerminal { return finish(job.id, terminal: terminal) }
        return []
    }

    /// The worker's copy of the terminal event, if it is well-formed and belongs to the job's current attempt.
    private func validTerminal(_ raw: RawEvent, job: Job) -> Terminal? {
        guard let h = try? EnvelopeHeader.scan(topic: raw.topic, envelope: raw.envelope),
            h.isTerminal, h.runKey == job.runKey, h.attempt == job.attempt
        else { return nil }
        return Terminal(raw: raw, attempt: h.attempt, seq: h.seq)
    }

    // MARK: Events

    /// What to do with an event from the bus.
    enum EventDisposition: Equatable {
        case forward
        case hold
        case drop
    }

    /// Handles one event from the bus sent by the worker with routing identity `sender` (as its credential
    /// proved); on `.forward` the caller publishes it (the replay buffer already has it).
    mutating func event(
        _ header: EnvelopeHeader,
        raw: RawEvent,
        sender: [UInt8],
        now: Double
    ) -> (EventDisposition, [Action]) {
        raw.topic.withUnsafeBytes { topic in
            raw.envelope.withUnsafeBytes { envelope in
                let scanned = EnvelopeHeader.Scanned(
                    runKeyCount: header.runKey.utf8.count,
                    attempt: header.attempt,
                    seq: header.seq,
                    isTerminal: header.isTerminal
                )
                return event(scanned, topic: topic, envelope: envelope, sender: sender, now: now)
            }
        }
    }

    /// Handles one event from the bus, given as frames borrowed from the received message (copied only
    /// into the replay buffer, and, for a terminal event, into the job); on `.forward` the caller publishes
    /// it (the replay buffer already has it). Only the worker holding the run's current attempt (`sender`,
    /// proved by its credential) writes into the run; anything else is counted in `rejected_forged`.
    mutating func event(
        _ header: EnvelopeHeader.Scanned,
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer,
        sender: [UInt8],
        now: Double
    ) -> (EventDisposition, [Action]) {
        counters.eventsReceived += 1
        let runKey = header.runKey(topic)
        let job: Job
        if let recent = recentEventJobs.firstIndex(where: { !$0.retired && $0.hasRunKey(runKey) }) {
            job = recentEventJobs[recent]
            if recent > 0 { recentEventJobs.swapAt(0, recent) }
        } else if let found = runs[String(decoding: runKey, as: UTF8.self)] {
            job = found
            if recentEventJobs.count == Self.recentEventJobsLimit { recentEventJobs.removeLast() }
            recentEventJobs.insert(found, at: 0)
        } else {
            counters.eventsUnknownRun += 1
            return (.drop, [])
        }
        guard header.attempt == job.attempt else {
            counters.eventsStale += 1
            return (.drop, [])
        }
        guard job.holder == sender else {
            counters.rejectedForged += 1
            return (.drop, [.rejected("an event of \(job.runKey) from a worker that does not hold the run")])
        }
        if header.isTerminal {
            switch job.phase {
            case .awaitingTerminal:
                // The result is in: the run ends with this event, published by the caller as it is.
                let frames = TerminalFrames.borrowed(topic: topic, envelope: envelope)
                guard let actions = finish(job.id, attempt: header.attempt, seq: header.seq, frames: frames) else {
                    return (.drop, [])
                }
                return (.forward, actions)
            case .leased, .queued:
                guard job.busTerminal == nil else {
                    counters.eventsStale += 1
                    return (.drop, [])
                }
                job.busTerminal = Terminal(
                    raw: RawEvent(topic: Array(topic), envelope: Array(envelope)),
                    attempt: header.attempt,
                    seq: header.seq
                )
                return (.hold, [])
            }
        }
        if header.seq > job.lastSeq { job.lastSeq = header.seq }
        replay.append(
            runKey: job.runKey,
            cached: &job.replayLog,
            attempt: header.attempt,
            seq: header.seq,
            topic: topic,
            envelope: envelope
        )
        counters.eventsForwarded += 1
        return (.forward, [])
    }

    /// About how many bytes a kept result takes: its strings and value, plus its key and table entry.
    static func retainedBytes(_ r: RunResult) -> Int {
        128 + 2 * (r.namespace.utf8.count + r.runId.utf8.count) + r.job.utf8.count
            + (r.errorMessage?.utf8.count ?? 0) + r.result.approximateByteCount
    }

    /// A run's terminal event: held by the coordinator, or borrowed from the message being handled (the caller
    /// then publishes it).
    private enum TerminalFrames {
        case owned(RawEvent)
        case borrowed(topic: UnsafeRawBufferPointer, envelope: UnsafeRawBufferPointer)
    }

    /// Publishes the run's single terminal event and retires the job.
    private mutating func finish(_ jobId: String, terminal: Terminal) -> [Action] {
        finish(jobId, attempt: terminal.attempt, seq: terminal.seq, frames: .owned(terminal.raw)) ?? []
    }

    /// Records the run's single terminal event and result and retires the job; the actions include publishing
    /// the event when the coordinator holds it. Nil when the job is not there to finish.
    private mutating func finish(_ jobId: String, attempt: Int, seq: Int, frames: TerminalFrames) -> [Action]? {
        guard let job = jobs.removeValue(forKey: jobId), let result = job.result else { return nil }
        runs.removeValue(forKey: job.runKey)
        activeInputBytes -= job.inputBytes
        job.retired = true
        switch job.phase {
        case .leased(let w, _, _, _):
            workers[w]?.jobs.remove(jobId)
            workers[w]?.leased -= 1
        case .awaitingTerminal(_, _, let w): workers[w]?.jobs.remove(jobId)
        case .queued: break
        }
        switch frames {
        case .owned(let raw):
            replay.append(runKey: job.runKey, cached: &job.replayLog, attempt: attempt, seq: seq, raw: raw)
        case .borrowed(let topic, let envelope):
            replay.append(
                runKey: job.runKey,
                cached: &job.replayLog,
                attempt: attempt,
                seq: seq,
                topic: topic,
                envelope: envelope
            )
        }
        replay.finish(runKey: job.runKey, cached: job.replayLog)
        counters.eventsForwarded += 1
        if result.status == .completed { counters.jobsCompleted += 1 } else { counters.jobsFailed += 1 }
        var stored = result
        stored.id = ""
        let bytes = Self.retainedBytes(stored)
        if let previous = finished.updateValue(Retained(result: stored, bytes: bytes), forKey: job.runKey) {
            finishedBytes -= previous.bytes
        }
        finishedBytes += bytes
        finishedOrder.append(job.runKey)
        while finishedOrder.count > config.resultRetention || finishedBytes > config.resultRetentionBytes,
            let old = finishedOrder.popFirst()
        {
            if runs[old] == nil, let removed = finished.removeValue(forKey: old) { finishedBytes -= removed.bytes }
        }
        switch (job.client, frames) {
        case (let client?, .owned(let raw)): return [.pushResult(client, result), .publish(raw)]
        case (let client?, .borrowed): return [.pushResult(client, result)]
        case (nil, .owned(let raw)): return [.publish(raw)]
        case (nil, .borrowed): return []
        }
    }

    // MARK: Dispatch and time

    /// Sends queued jobs to workers that have credit, the worker with the most credit first.
    mutating func dispatch(now: Double) -> [Action] {
        // Job frames per worker, in dispatch order; workers that take batches get one message for theirs.
        var perWorker: [(worker: [UInt8], frames: [[UInt8]])] = []
        while let jobId = queue.first {
            guard let job = jobs[jobId], case .queued = job.phase else {
                _ = queue.popFirst()
                continue
            }
            var best: [UInt8]?
            var bestCredit = 0
            for (identity, w) in workers where !w.draining && w.credit > bestCredit {
                best = identity
                bestCredit = w.credit
            }
            guard let target = best else { break }
            _ = queue.popFirst()
            if job.attempt > 0 { counters.jobsRedispatched += 1 }
            job.attempt += 1
            job.lastSeq = 0
            job.busTerminal = nil
            job.phase = .leased(
                worker: target,
                ackDeadline: now + config.ackTimeout.seconds,
                leaseDeadline: now + config.leaseTimeout.seconds,
                acked: false
            )
            job.holder = target
            workers[target]!.credit -= 1
            workers[target]!.leased += 1
            workers[target]!.jobs.insert(jobId)
            let assignment = JobAssignment(
                job: jobId,
                attempt: job.attempt,
                flow: job.flow,
                namespace: job.namespace,
                runId: job.runId,
                input: job.input
            )
            let frame = WorkerCommand.job(assignment).frame
            if let i = perWorker.firstIndex(where: { $0.worker == target }) {
                perWorker[i].frames.append(frame)
            } else {
                perWorker.append((target, [frame]))
            }
        }
        var actions: [Action] = []
        for (worker, frames) in perWorker {
            if frames.count > 1, workers[worker]?.batchJobs == true {
                actions.append(.toWorker(worker, [WorkerCommand.jobsFrame(frames)]))
            } else {
                for frame in frames { actions.append(.toWorker(worker, [frame])) }
            }
        }
        return actions
    }

    /// Sending a job to `worker` failed (it is gone): put its jobs back.
    mutating func workerUnreachable(_ worker: [UInt8], now: Double) -> [Action] {
        guard let entry = workers.removeValue(forKey: worker) else { return [] }
        counters.workersLost += 1
        var actions: [Action] = [.log("worker \(entry.id) is unreachable; its \(entry.jobs.count) jobs go back")]
        for jobId in entry.jobs { actions += requeue(jobId, now: now, reason: "worker \(entry.id) unreachable") }
        return actions
    }

    /// Expires dead workers, missed acks, leases and terminal waits.
    ///
    /// Workers' silence counts only up to `workersHeardAt`, the last moment the coordinator had read everything
    /// workers sent, and missing events only up to `eventsHeardAt`, the same for the event bus: a coordinator
    /// that was itself held up (descheduled, or busy with a backlog) then does not take messages still waiting
    /// unread for silence, and declares no live worker dead.
    mutating func tick(now: Double, workersHeardAt: Double? = nil, eventsHeardAt: Double? = nil) -> [Action] {
        let heard = min(now, workersHeardAt ?? now)
        let eventsHeard = min(now, eventsHeardAt ?? now)
        var actions: [Action] = []
        let deadline = heard - config.heartbeatTimeout.seconds
        for (identity, entry) in workers where entry.lastSeen < deadline {
            workers.removeValue(forKey: identity)
            counters.workersLost += 1
            actions.append(
                .log("worker \(entry.id) missed its heartbeats; dispatching its \(entry.jobs.count) jobs again")
            )
            for jobId in entry.jobs { actions += requeue(jobId, now: now, reason: "worker \(entry.id) dead") }
        }
        for (jobId, job) in jobs {
            switch job.phase {
            case .leased(_, let ackDeadline, let leaseDeadline, let acked):
                if !acked && heard > ackDeadline {
                    counters.acksMissed += 1
                    actions += requeue(jobId, now: now, reason: "no ack")
                } else if heard > leaseDeadline {
                    counters.leasesExpired += 1
                    actions += requeue(jobId, now: now, reason: "lease expired")
                }
            case .awaitingTerminal(let deadline, let fallback, let worker):
                guard eventsHeard > deadline else { break }
                if workers[worker] != nil {
                    // The worker lives: its events are late, not lost; publish the result's copy of the terminal.
                    counters.terminalsFromResult += 1
                    // (A job awaiting its terminal event always has its result.)
                    if let terminal = validTerminal(fallback, job: job)
                        ?? job.result.map({ synthesizedTerminal(job, result: $0) })
                    {
                        actions += finish(jobId, terminal: terminal)
                    }
                } else {
                    // The worker is gone and the attempt's events with it: run the job again.
                    counters.resultsIncomplete += 1
                    actions += requeue(jobId, now: now, reason: "worker gone before its events arrived")
                }
            case .queued:
                break
            }
        }
        actions += dispatch(now: now)
        return actions
    }

    /// Puts a leased job back at the head of the queue, or fails it when it has used all its attempts.
    private mutating func requeue(_ jobId: String, now: Double, reason: String) -> [Action] {
        guard let job = jobs[jobId] else { return [] }
        let worker: [UInt8]
        switch job.phase {
        case .leased(let w, _, _, _):
            worker = w
            workers[w]?.leased -= 1
        case .awaitingTerminal(_, _, let w): worker = w
        case .queued: return []
        }
        workers[worker]?.jobs.remove(jobId)
        job.phase = .queued
        job.busTerminal = nil
        job.result = nil
        if job.attempt >= job.maxAttempts {
            let result = RunResult(
                id: job.requestId,
                job: job.id,
                namespace: job.namespace,
                runId: job.runId,
                status: .failed,
                attempts: job.attempt,
                result: .null,
                errorCode: .attemptsExhausted,
                errorMessage: "all \(job.maxAttempts) attempts were lost (last: \(reason))"
            )
            job.result = result
            counters.terminalsSynthesized += 1
            return finish(jobId, terminal: synthesizedTerminal(job, result: result))
        }
        queue.prepend(jobId)
        return []
    }

    private mutating func removeFromQueue(_ jobId: String) {
        var rest = RingBuffer<String>(capacity: queue.count + 4)
        while let id = queue.popFirst() {
            if id != jobId { rest.append(id) }
        }
        queue = rest
    }

    /// An `error` terminal event written by the coordinator for a run whose worker's terminal is unusable.
    private func synthesizedTerminal(_ job: Job, result: RunResult) -> Terminal {
        let failed = result.status == .failed
        let event = StreamEvent(
            namespace: job.namespace,
            runId: job.runId,
            seq: UInt64(job.lastSeq + 1),
            type: failed ? .error : .final,
            node: "flowpool",
            timestamp: WallClock.now,
            content: failed
                ? ErrorContent.make(
                    code: result.errorCode?.rawValue ?? ErrorContent.flowFailed,
                    message: result.errorMessage ?? "failed",
                    node: "flowpool"
                )
                : result.result
        )
        let attempt = max(job.attempt, 1)
        let wire = WireEvent(event: event, attempt: attempt)
        return Terminal(
            raw: RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes),
            attempt: attempt,
            seq: job.lastSeq + 1
        )
    }

    private func reply(_ client: [UInt8], _ reply: ControlReply) -> Action { .toClient(client, reply.frames) }

    // MARK: Status

    /// The body of a `status` reply.
    func statusBody(now: Double) -> JSONValue {
        let workerList: [JSONValue] = workers.values.sorted { $0.id < $1.id }.map { w in
            [
                "id": .string(w.id), "host": .string(w.host), "pid": .int(w.pid), "concurrency": .int(w.concurrency),
                "credit": .int(w.credit), "leased": .int(w.jobs.count), "in_flight": .int(w.inFlight),
                "completed": .int(w.completed), "draining": .bool(w.draining),
                "last_seen_ms": .int(Int((now - w.lastSeen) * 1000)),
            ]
        }
        let leased = jobs.values.reduce(0) { n, job in
            if case .leased = job.phase { return n + 1 }
            return n
        }
        return [
            "coordinator": .string(instanceId),
            "draining": .bool(draining),
            "workers": .array(workerList),
            "queue_depth": .int(queue.count),
            "in_flight": .int(leased),
            "active_jobs": .int(jobs.count),
            "active_input_bytes": .int(activeInputBytes),
            "results_kept": ["runs": .int(finished.count), "bytes": .int(finishedBytes)],
            "counters": counters.json,
            "subscribers": .array(
                subscriberReports.values.filter { now - $0.at <= Self.subscriberReportTTL }
                    .sorted { $0.report.subscriber < $1.report.subscriber }
                    .map { entry in
                        let r = entry.report
                        return [
                            "subscriber": .string(r.subscriber), "pattern": .string(r.pattern),
                            "host": .string(r.host), "pid": .int(r.pid), "received": .int(r.received),
                            "delivered": .int(r.delivered), "gaps": .int(r.gaps), "repaired": .int(r.repaired),
                            "lost": .int(r.lost), "buffer_drops": .int(r.bufferDrops),
                            "last_report_ms": .int(Int((now - entry.at) * 1000)),
                        ]
                    }
            ),
            "replay": [
                "runs": .int(replay.runs.count), "bytes": .int(replay.totalBytes),
                "evicted_runs": .int(replay.evictedRuns), "evicted_events": .int(replay.evictedEvents),
            ],
            "limits": [
                "max_queue": .int(config.maxQueue), "max_queue_bytes": .int(config.maxQueueBytes),
                "replay_bytes": .int(config.replayBytes), "result_retention": .int(config.resultRetention),
                "result_retention_bytes": .int(config.resultRetentionBytes),
                "subscriber_buffer_bytes": .int(config.subscriberBufferBytes),
                "subscriber_hwm": .int(config.subscriberHighWaterMark),
                "client_buffer_bytes": .int(config.clientBufferBytes),
                "client_buffers_total_bytes": .int(config.clientBuffersTotalBytes),
            ],
            "replays_in_progress_bytes": .int(replayCursors.totalBytes),
        ]
    }

    /// Records a subscriber's report; the newest 1,000 subscribers are kept, and `status` shows those heard
    /// from in the last ``subscriberReportTTL`` seconds.
    mutating func subscriberReport(_ report: SubscriberReport, now: Double) {
        if subscriberReports[report.subscriber] == nil, subscriberReports.count >= 1_000,
            let oldest = subscriberReports.min(by: { $0.value.at < $1.value.at })?.key
        {
            subscriberReports.removeValue(forKey: oldest)
        }
        subscriberReports[report.subscriber] = (report, now)
    }

    /// Seconds a subscriber's report stays in `status` without a newer one.
    static let subscriberReportTTL = 30.0

    /// The next `replay_batch` of one replay of each control peer not in `busy` (at most `budget`).
    mutating func nextReplayBatches(
        skipping busy: Set<[UInt8]>,
        budget: Int
    ) -> [(identity: [UInt8], frames: [[UInt8]])] {
        replayCursors.isEmpty ? [] : replayCursors.nextBatches(from: replay, skipping: busy, budget: budget)
    }

    /// Mutable access to counters for the I/O layer (rejections it detects before decoding).
    mutating func count(_ body: (inout CoordinatorCounters) -> Void) { body(&counters) }
}

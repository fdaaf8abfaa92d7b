import FlowCore

/// The coordinator's bookkeeping as a pure state machine.
///
/// Every input (a client request, a worker report, an event from the bus, a clock tick) returns the
/// ``Action``s to carry out; the state machine never touches a socket, so it is tested without one. Time is a
/// monotonic clock in seconds supplied by the caller.
///
/// Each concern has its own file and type: the jobs (``JobTable``) and their lifecycle (``JobState``, changed
/// only by the transitions in JobLifecycle.swift), the workers and their credit (``WorkerTable``), the events
/// (CoordinatorState+Events.swift, with the ``ReplayBuffer`` and ``WorkerCredentials``), the results kept
/// (``ResultStore``) and `status` (CoordinatorState+Status.swift). This file routes inputs to them.
struct CoordinatorState {
    /// Something the coordinator's I/O loop must do.
    enum Action: Equatable, Sendable {
        /// Answer a control peer (by routing identity).
        case reply([UInt8], ControlReply)
        /// Push a run's result to the control peer that submitted it.
        case pushResult([UInt8], RunResult)
        /// Send a command to a worker (by routing identity on the worker endpoint).
        case command([UInt8], WorkerCommand)
        /// Publish an event to subscribers.
        case publish(RawEvent)
        /// Log a notable transition.
        case log(String)
        /// Log a rejected message (at a limited rate: a peer may send any number).
        case rejected(String)
        /// Log an input the job's state does not take (at a limited rate); it was counted and ignored.
        case unexpected(String)
        /// Append a record to the journal (only with a data directory); replies wait until it is written.
        case record(JournalRecord)
    }

    let config: CoordinatorConfiguration
    let instanceId: String
    var counters = CoordinatorCounters()
    var jobs = JobTable()
    var workers = WorkerTable()
    var results: ResultStore
    var replay: ReplayBuffer
    /// The latest report of each subscriber that sent one, and when it came.
    var subscriberReports: [String: (report: SubscriberReport, at: Double)] = [:]
    private(set) var draining = false
    var nextJob = 0
    /// The `replay` requests being answered, batch by batch as their peers read them.
    var replayCursors: ReplayCursors
    /// Issues and checks the credentials of workers' event messages and `stalled` reports.
    var credentials: WorkerCredentials
    /// Whether the transitions record what the journal keeps (a data directory is configured).
    let journaling: Bool

    /// - Parameter credentialKey: the key of workers' credentials; a fresh random one when nil.
    init(config: CoordinatorConfiguration, instanceId: String, credentialKey: [UInt8]? = nil) {
        self.config = config
        self.instanceId = instanceId
        self.journaling = config.dataDirectory != nil
        self.credentials = credentialKey.map(WorkerCredentials.init(key:)) ?? WorkerCredentials()
        self.replay = ReplayBuffer(maxBytes: config.replayBytes, maxRuns: config.replayRuns)
        self.results = ResultStore(maxCount: config.resultRetention, maxBytes: config.resultRetentionBytes)
        self.replayCursors = ReplayCursors(
            peerLimit: config.clientBufferBytes,
            totalLimit: config.clientBuffersTotalBytes
        )
    }

    /// Jobs accepted and not yet finished.
    var activeJobs: Int { jobs.count }

    /// Whether a draining coordinator has nothing left to do.
    var isDrained: Bool { draining && jobs.isEmpty }

    /// Stops accepting submits; jobs already accepted still run.
    mutating func beginDrain() { draining = true }

    // MARK: Clients

    /// Handles a submit from the client with routing identity `client`.
    mutating func submit(_ request: SubmitRequest, client: [UInt8], now: Double) -> [Action] {
        var actions: [Action] = []
        let answer = admit(request, client: client, now: now, actions: &actions)
        return [.reply(client, answer)] + actions + dispatch(now: now)
    }

    /// Handles a batch of submits: one `accepted_batch` reply, then one round of dispatch.
    mutating func submitBatch(id: String, _ requests: [SubmitRequest], client: [UInt8], now: Double) -> [Action] {
        var actions: [Action] = []
        let answers = requests.map { admit($0, client: client, now: now, actions: &actions) }
        return [.reply(client, .acceptedBatch(id: id, answers: answers))] + actions + dispatch(now: now)
    }

    /// Answers `get_result`.
    func result(id: String, namespace: String, runId: String) -> ControlReply {
        let key = "\(namespace)/\(runId)"
        if var r = results[key] {
            r.id = id
            return .result(r)
        }
        if let job = jobs[runKey: key] {
            return .error(id: id, code: .notFound, message: "run \(key) has not finished yet (\(job.state.name))")
        }
        return .error(id: id, code: .notFound, message: "run \(key) is unknown or its result was evicted")
    }

    /// Handles `cancel`: the run ends `cancelled` unless it has already ended.
    mutating func cancel(id: String, namespace: String, runId: String, client: [UInt8], now: Double) -> [Action] {
        let key = "\(namespace)/\(runId)"
        guard let job = jobs[runKey: key] else {
            if let r = results[key] {
                let message = "run \(key) has already finished (\(r.status.rawValue)); its result stands"
                return [.reply(client, .error(id: id, code: .alreadyFinished, message: message))]
            }
            let message = "run \(key) is unknown or its result was evicted"
            return [.reply(client, .error(id: id, code: .notFound, message: message))]
        }
        let was = job.state.name
        var actions = cancelled(job, by: "cancelled by a client", now: now)
        // After the run's terminal event and result: whoever hears `cancelled` finds the run ended.
        if job.state.isFinished {
            actions.append(
                .reply(client, .cancelled(id: id, job: job.id, namespace: namespace, runId: runId, was: was))
            )
        } else {
            let message = "run \(key) has already finished on its worker; its result stands"
            actions.append(.reply(client, .error(id: id, code: .alreadyFinished, message: message)))
        }
        return actions + dispatch(now: now)
    }

    // MARK: Workers

    /// Handles a report from the worker with routing identity `worker`.
    mutating func report(_ report: WorkerReport, from worker: [UInt8], now: Double) -> [Action] {
        switch report {
        case .hello(let hello):
            let (_, isNew) = workers.register(hello, identity: worker, now: now)
            var actions: [Action] = []
            if isNew { actions.append(.log("worker \(hello.workerId) joined (\(hello.host) pid \(hello.pid))")) }
            // The credential its events must carry; and a worker that offers `results` sends them once told they
            // are understood.
            let registered = WorkerCommand.registered(
                batchResults: hello.batchResults,
                credential: credentials.credential(for: worker)
            )
            actions.append(.command(worker, registered))
            return actions
        case .ready(let credit):
            guard let entry = workers[worker] else { return [.command(worker, .reregister)] }
            entry.lastSeen = now
            counters.creditCapped += workers.grant(credit, to: entry)
            return dispatch(now: now)
        case .heartbeat(let inFlight, let completed, let draining):
            guard let entry = workers[worker] else { return [.command(worker, .reregister)] }
            entry.lastSeen = now
            entry.inFlight = inFlight
            entry.completed = completed
            guard draining else { return [] }
            entry.availability = .draining
            entry.credit = 0
            return [.command(worker, .drainAck)]
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
            var actions: [Action] = []
            for a in attempts { ack(a, from: worker, actions: &actions) }
            return actions
        case .result(let r):
            workers[worker]?.lastSeen = now
            return result(r, from: worker, now: now)
        case .results(let batch):
            workers[worker]?.lastSeen = now
            counters.resultBatches += 1
            counters.resultsBatched += batch.results.count
            var actions: [Action] = []
            for r in batch.results { actions += result(r, from: worker, now: now) }
            return actions
        case .bye:
            guard let entry = workers.remove(worker) else { return [] }
            var actions: [Action] = [.log("worker \(entry.id) left")]
            for jobId in entry.jobs {
                guard let job = jobs[id: jobId] else { continue }
                actions += workerLost(job, reason: "worker \(entry.id) left", graceful: true, now: now)
            }
            return actions + dispatch(now: now)
        }
    }

    /// Sending to `worker` failed (it is gone): its jobs go back to the queue.
    mutating func workerUnreachable(_ worker: [UInt8], now: Double) -> [Action] {
        guard let entry = workers.remove(worker) else { return [] }
        counters.workersLost += 1
        var actions: [Action] = [.log("worker \(entry.id) is unreachable; its \(entry.jobs.count) jobs go back")]
        for jobId in entry.jobs {
            guard let job = jobs[id: jobId] else { continue }
            actions += workerLost(job, reason: "worker \(entry.id) unreachable", graceful: false, now: now)
        }
        return actions
    }

    // MARK: Time

    /// Expires dead workers, missed acks, leases, terminal waits and deadlines, then dispatches.
    ///
    /// Workers' silence counts only up to `workersHeardAt`, the last moment the coordinator had read everything
    /// workers sent, and missing events only up to `eventsHeardAt`, the same for the event bus: a coordinator
    /// that was itself held up (descheduled, or busy with a backlog) then does not take messages still waiting
    /// unread for silence, and declares no live worker dead.
    mutating func tick(now: Double, workersHeardAt: Double? = nil, eventsHeardAt: Double? = nil) -> [Action] {
        let heard = min(now, workersHeardAt ?? now)
        let eventsHeard = min(now, eventsHeardAt ?? now)
        var actions: [Action] = []
        for (identity, entry) in workers.silent(since: heard - config.heartbeatTimeout.seconds) {
            _ = workers.remove(identity)
            counters.workersLost += 1
            actions.append(
                .log("worker \(entry.id) missed its heartbeats; dispatching its \(entry.jobs.count) jobs again")
            )
            for jobId in entry.jobs {
                guard let job = jobs[id: jobId] else { continue }
                actions += workerLost(job, reason: "worker \(entry.id) dead", graceful: false, now: now)
            }
        }
        for job in Array(jobs.all) {
            if let deadline = job.deadline, now >= deadline {
                actions += deadlinePassed(job, now: now)
                if job.state.isFinished { continue }
            }
            switch job.state {
            case .dispatched(let lease) where heard > lease.ackDeadline:
                counters.acksMissed += 1
                actions += leaseExpired(job, reason: "no ack", now: now)
            case .dispatched(let lease), .running(let lease):
                if heard > lease.leaseDeadline {
                    counters.leasesExpired += 1
                    actions += leaseExpired(job, reason: "lease expired", now: now)
                }
            case .resultHeld(let held) where eventsHeard > held.grace:
                actions += graceOver(job, now: now)
            case .resultHeld, .queued, .finished:
                break
            }
        }
        actions += dispatch(now: now)
        return actions
    }

    /// Mutable access to counters for the I/O layer (rejections it detects before decoding).
    mutating func count(_ body: (inout CoordinatorCounters) -> Void) { body(&counters) }
}

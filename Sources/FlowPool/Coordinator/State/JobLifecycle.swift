import FlowCore

/// The job lifecycle's transitions: one function per input, each handling every ``JobState``. Inputs a state
/// does not take are counted in `lifecycle_refused`, logged at a limited rate and otherwise ignored; nothing
/// leaves ``JobState/finished``, and ``finish(_:result:terminal:)`` is the only way in.
extension CoordinatorState {
    // MARK: Submit

    /// Queues a run or says why not: `accepted` or `error`. A submit of a run that is active, or finished with its
    /// result still kept, is answered with that run (`existing`), not run a second time.
    mutating func admit(
        _ request: SubmitRequest,
        client: [UInt8],
        now: Double,
        actions: inout [Action]
    )
        -> ControlReply
    {
        if let runId = request.runId {
            let key = "\(request.namespace)/\(runId)"
            if let job = jobs[runKey: key] {
                counters.submitsExisting += 1
                if request.reply {
                    // The newest connection that asked gets the result (the first may be gone).
                    job.client = client
                    job.requestId = request.id
                }
                return .acceptedExisting(id: request.id, job: job.id, namespace: job.namespace, runId: job.runId)
            }
            if var kept = results[key] {
                counters.submitsExisting += 1
                kept.id = request.id
                if request.reply { actions.append(.pushResult(client, kept)) }
                return .acceptedExisting(id: request.id, job: kept.job, namespace: kept.namespace, runId: kept.runId)
            }
        }
        if draining {
            counters.submitsRejectedDraining += 1
            return .error(id: request.id, code: .draining, message: "the coordinator is shutting down")
        }
        if request.requireWorker, !workers.offered(request.flow) {
            let offered = workers.offeredFlows.sorted().joined(separator: ", ")
            let message =
                "no live worker offers the flow \"\(request.flow)\" (they offer: \(offered.isEmpty ? "none, no worker is registered" : offered)); submit without require_worker to queue the run until one does"
            return .error(id: request.id, code: .noWorkerForFlow, message: message)
        }
        let inputBytes = request.input.approximateByteCount
        let full: String? =
            if !jobs.isEmpty, jobs.inputBytes + inputBytes > config.maxQueueBytes {
                "\(jobs.count) accepted runs hold \(jobs.inputBytes >> 10) KiB of input and this one \(inputBytes >> 10) KiB more (limit \(config.maxQueueBytes >> 20) MiB, --max-queue-mb)"
            } else if jobs.queuedCount >= config.maxQueue {
                "\(jobs.queuedCount) jobs are waiting for a worker (limit \(config.maxQueue))"
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
        let job = Job(
            id: jobId,
            flow: request.flow,
            namespace: request.namespace,
            runId: request.runId ?? jobId,
            input: request.input,
            inputBytes: inputBytes,
            client: request.reply ? client : nil,
            requestId: request.id,
            maxAttempts: request.maxAttempts ?? config.maxAttempts,
            deadline: request.deadlineMilliseconds.map { now + Double($0) / 1000 },
            deadlineWallMilliseconds: request.deadlineMilliseconds.map { Int(WallClock.now * 1000) + $0 }
        )
        jobs.add(job)
        counters.jobsAccepted += 1
        if journaling { actions.append(.record(job.acceptedRecord)) }
        return .accepted(id: request.id, job: jobId, namespace: job.namespace, runId: job.runId)
    }

    // MARK: Dispatch

    /// Sends queued jobs to workers that have credit, the worker with the most credit first, each the oldest job of
    /// the flows it offers.
    mutating func dispatch(now: Double) -> [Action] {
        guard jobs.hasQueued else { return [] }
        // Jobs per worker, in dispatch order; workers that take batches get one message for theirs.
        var perWorker: [(worker: [UInt8], jobs: [JobAssignment])] = []
        var dispatched: [Action] = []
        // Workers with credit for whose flows nothing waits.
        var idle: Set<[UInt8]> = []
        while jobs.hasQueued, let target = workers.mostCredit(excluding: idle), let entry = workers[target] {
            guard let job = jobs.nextQueued(offered: entry.flows) else {
                idle.insert(target)
                continue
            }
            jobs.popQueued(job)
            if job.attempt > 0 { counters.jobsRedispatched += 1 }
            job.attempt += 1
            job.lastSeq = 0
            job.holder = target
            job.state = .dispatched(
                Lease(
                    worker: target,
                    ackDeadline: now + config.ackTimeout.seconds,
                    leaseDeadline: now + config.leaseTimeout.seconds
                )
            )
            entry.credit -= 1
            entry.leased += 1
            entry.jobs.insert(job.id)
            if journaling { dispatched.append(.record(.dispatched(job: job.id, attempt: job.attempt))) }
            let assignment = JobAssignment(
                job: job.id,
                attempt: job.attempt,
                flow: job.flow,
                namespace: job.namespace,
                runId: job.runId,
                input: job.input
            )
            if let i = perWorker.firstIndex(where: { $0.worker == target }) {
                perWorker[i].jobs.append(assignment)
            } else {
                perWorker.append((target, [assignment]))
            }
        }
        var actions = dispatched
        for (worker, assigned) in perWorker {
            if assigned.count > 1, workers[worker]?.batchJobs == true {
                actions.append(.command(worker, .jobs(assigned)))
            } else {
                for a in assigned { actions.append(.command(worker, .job(a))) }
            }
        }
        return actions
    }

    // MARK: Ack

    /// The worker confirmed it has the attempt.
    mutating func ack(_ a: JobAttempt, from worker: [UInt8], actions: inout [Action]) {
        guard let job = jobs[id: a.job], job.attempt == a.attempt else { return }  // an earlier attempt's
        guard job.holder == worker else {
            counters.rejectedForged += 1
            return
        }
        switch job.state {
        case .dispatched(let lease):
            job.state = .running(lease)
        case .running:
            break  // sent twice
        case .queued, .resultHeld:
            // The ack came after the attempt was given up (its worker was thought dead) or after its result.
            refuse("ack", job, &actions)
        case .finished:
            refuse("ack", job, &actions)
        }
    }

    // MARK: Terminal event

    /// The current attempt's terminal event came on the bus: `.forward` when the run ended with it (the caller
    /// publishes it), `.hold` when it waits for the result, `.drop` when it is not the run's.
    mutating func terminalArrived(
        _ job: Job,
        attempt: Int,
        seq: Int,
        frames: TerminalFrames,
        actions: inout [Action]
    ) -> EventDisposition {
        switch job.state {
        case .resultHeld(let held):
            guard journaling else {
                actions += finish(job, result: held.result, terminal: (attempt, seq, frames))
                return .forward
            }
            // With a journal the terminal event leaves only once the result is written (the action publishes
            // it after the round's commit): a run seen ended never runs again after a crash.
            actions += finish(job, result: held.result, terminal: (attempt, seq, .owned(frames.owned)))
            return .drop
        case .dispatched(var lease), .running(var lease):
            guard lease.busTerminal == nil else {
                counters.eventsStale += 1
                return .drop
            }
            lease.busTerminal = Terminal(raw: frames.owned, attempt: attempt, seq: seq)
            if case .dispatched = job.state { job.state = .dispatched(lease) } else { job.state = .running(lease) }
            return .hold
        case .queued(let lost):
            // The terminal of an attempt given up while its worker lived: kept in case its result follows.
            guard lost == nil else {
                counters.eventsStale += 1
                return .drop
            }
            job.state = .queued(lostTerminal: Terminal(raw: frames.owned, attempt: attempt, seq: seq))
            return .hold
        case .finished:
            refuse("terminal event", job, &actions)
            return .drop
        }
    }

    // MARK: Result

    /// A worker's result for an attempt.
    mutating func result(_ r: WorkerResult, from worker: [UInt8], now: Double) -> [Action] {
        guard let job = jobs[id: r.job], job.attempt == r.attempt else {
            // A finished run's (a late copy, or the result of a cancelled attempt), or an earlier attempt's.
            counters.duplicateResults += 1
            return []
        }
        guard job.holder == worker else {
            // Only the worker the attempt was dispatched to may end it.
            counters.rejectedForged += 1
            return [.rejected("a result for \(job.runKey) attempt \(r.attempt) from a worker that does not hold it")]
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
        let busTerminal: Terminal?
        switch job.state {
        case .queued(let lost):
            // The worker was declared dead but was not: its result still counts.
            busTerminal = lost
        case .dispatched(let lease), .running(let lease):
            busTerminal = lease.busTerminal
        case .resultHeld, .finished:
            counters.duplicateResults += 1
            return []
        }
        // With the attempt's terminal event already in, the run ends now (``finish`` releases what the state held).
        if let t = busTerminal { return finish(job, result: result, terminal: (t.attempt, t.seq, .owned(t.raw))) }
        switch job.state {
        case .queued:
            // The job takes a place among its worker's jobs again (a second death would send it back).
            jobs.unqueue(job)
            workers[worker]?.jobs.insert(job.id)
        case .dispatched(let lease), .running(let lease):
            workers[lease.worker]?.leased -= 1
        case .resultHeld, .finished:
            break
        }
        job.state = .resultHeld(
            HeldResult(result: result, worker: worker, fallback: r.terminal, grace: now + config.terminalGrace.seconds)
        )
        return []
    }

    /// The terminal event did not come within the grace period after the result.
    mutating func graceOver(_ job: Job, now: Double) -> [Action] {
        guard case .resultHeld(let held) = job.state else {
            var actions: [Action] = []
            refuse("grace period over", job, &actions)
            return actions
        }
        if workers[held.worker] != nil {
            // The worker lives: its events are late, not lost; publish the result's copy of the terminal.
            counters.terminalsFromResult += 1
            let t = validTerminal(held.fallback, job: job) ?? synthesizedTerminal(job, result: held.result)
            return finish(job, result: held.result, terminal: (t.attempt, t.seq, .owned(t.raw)))
        }
        // The worker is gone and the attempt's events with it: run the job again.
        counters.resultsIncomplete += 1
        return requeue(job, reason: "worker gone before its events arrived", now: now)
    }

    // MARK: Worker lost

    /// The worker holding the job's attempt left (`graceful`: said `bye`) or was declared dead.
    mutating func workerLost(_ job: Job, reason: String, graceful: Bool, now: Double) -> [Action] {
        switch job.state {
        case .dispatched, .running:
            return requeue(job, reason: reason, now: now)
        case .resultHeld:
            // A worker says `bye` after handing over all its events, but they travel on another connection: a run
            // whose result is in keeps waiting (up to the grace period) for its terminal event.
            return graceful ? [] : requeue(job, reason: reason, now: now)
        case .queued, .finished:
            var actions: [Action] = []
            refuse("worker lost", job, &actions)
            return actions
        }
    }

    // MARK: Lease expired

    /// The attempt missed its ack or its lease: it goes back to the queue, and its worker is told to cancel it.
    mutating func leaseExpired(_ job: Job, reason: String, now: Double) -> [Action] {
        guard let worker = job.leasedTo else {
            var actions: [Action] = []
            refuse("lease expired", job, &actions)
            return actions
        }
        let cancel = WorkerCommand.cancel(job: job.id, attempt: job.attempt, reason: reason)
        return [.command(worker, cancel)] + requeue(job, reason: reason, now: now)
    }

    // MARK: Cancel and deadline

    /// Ends the run `cancelled` (`reason` says by whom), cancelling its attempt on its worker; a run whose result
    /// is in is left to finish with it.
    mutating func cancelled(_ job: Job, by reason: String, now: Double) -> [Action] {
        end(job, status: .cancelled, code: .cancelled, message: reason)
    }

    /// The run's deadline passed: it ends with an `error` (`deadline_exceeded`), its attempt cancelled on its
    /// worker; a run whose result is in is left to finish with it.
    mutating func deadlinePassed(_ job: Job, now: Double) -> [Action] {
        if case .resultHeld = job.state { return [] }
        counters.deadlinesExceeded += 1
        return end(job, status: .failed, code: .deadlineExceeded, message: "the run's deadline passed")
    }

    /// Ends a run that has no result from the coordinator's side (cancel, deadline).
    private mutating func end(_ job: Job, status: RunResult.Status, code: PoolErrorCode, message: String) -> [Action] {
        var actions: [Action] = []
        switch job.state {
        case .queued:
            jobs.unqueue(job)
        case .dispatched(let lease), .running(let lease):
            actions.append(.command(lease.worker, .cancel(job: job.id, attempt: job.attempt, reason: message)))
        case .resultHeld:
            return []
        case .finished:
            refuse(message, job, &actions)
            return actions
        }
        let result = RunResult(
            id: job.requestId,
            job: job.id,
            namespace: job.namespace,
            runId: job.runId,
            status: status,
            attempts: job.attempt,
            result: .null,
            errorCode: code,
            errorMessage: message
        )
        let t = synthesizedTerminal(job, result: result)
        return actions + finish(job, result: result, terminal: (t.attempt, t.seq, .owned(t.raw)))
    }

    // MARK: Recovered

    /// Takes back what the journal held after a restart: results are kept again, and each run that had not
    /// finished is queued again with its attempts so far counted (its next attempt is a new one). `now` is the
    /// monotonic clock and `wallMilliseconds` the wall clock, to turn deadlines back into the monotonic clock.
    mutating func recover(_ recovered: Journal.Recovered, now: Double, wallMilliseconds: Int) {
        for result in recovered.results {
            results.keep(result, runKey: "\(result.namespace)/\(result.runId)") { _ in false }
        }
        for (run, attempts) in recovered.unfinished {
            let job = Job(
                id: run.job,
                flow: run.flow,
                namespace: run.namespace,
                runId: run.runId,
                input: run.input,
                inputBytes: run.input.approximateByteCount,
                client: nil,
                requestId: run.requestId,
                maxAttempts: run.maxAttempts,
                deadline: run.deadlineWallMilliseconds.map { now + Double($0 - wallMilliseconds) / 1000 },
                deadlineWallMilliseconds: run.deadlineWallMilliseconds
            )
            job.attempt = attempts
            job.state = .queued(lostTerminal: nil)
            jobs.add(job)
            counters.jobsRecovered += 1
        }
    }

    /// What the journal must keep to stand for the coordinator's state: each active run's acceptance and last
    /// attempt, each kept result (for compaction).
    func journalSnapshot() -> [JournalRecord] {
        var records: [JournalRecord] = []
        records.reserveCapacity(results.count + 2 * jobs.count)
        for key in results.keysOldestFirst {
            if let r = results[key] { records.append(.finished(r)) }
        }
        for job in jobs.all.sorted(by: { $0.id.count != $1.id.count ? $0.id.count < $1.id.count : $0.id < $1.id }) {
            records.append(job.acceptedRecord)
            if job.attempt > 0 { records.append(.dispatched(job: job.id, attempt: job.attempt)) }
        }
        return records
    }

    // MARK: Helpers

    /// Puts a job whose attempt was lost back at the head of the queue, or fails it when it has used all its
    /// attempts.
    private mutating func requeue(_ job: Job, reason: String, now: Double) -> [Action] {
        switch job.state {
        case .dispatched(let lease), .running(let lease):
            workers[lease.worker]?.leased -= 1
            workers[lease.worker]?.jobs.remove(job.id)
        case .resultHeld(let held):
            workers[held.worker]?.jobs.remove(job.id)
        case .queued, .finished:
            var actions: [Action] = []
            refuse("requeue", job, &actions)
            return actions
        }
        job.state = .queued(lostTerminal: nil)
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
            counters.terminalsSynthesized += 1
            let t = synthesizedTerminal(job, result: result)
            return finish(job, result: result, terminal: (t.attempt, t.seq, .owned(t.raw)))
        }
        jobs.requeue(job)
        return []
    }

    /// The one way into ``JobState/finished``: records the run's single terminal event and its result, and
    /// forgets the job. The actions publish the event when the coordinator holds it (`.owned`); a borrowed one
    /// the caller publishes.
    mutating func finish(
        _ job: Job,
        result: RunResult,
        terminal: (attempt: Int, seq: Int, frames: TerminalFrames)
    ) -> [Action] {
        switch job.state {
        case .finished:
            var actions: [Action] = []
            refuse("finish", job, &actions)
            return actions
        case .dispatched(let lease), .running(let lease):
            workers[lease.worker]?.leased -= 1
            workers[lease.worker]?.jobs.remove(job.id)
        case .resultHeld(let held):
            workers[held.worker]?.jobs.remove(job.id)
        case .queued:
            if let holder = job.holder { workers[holder]?.jobs.remove(job.id) }
        }
        job.state = .finished(result.status)
        jobs.remove(job)
        recordTerminal(job, attempt: terminal.attempt, seq: terminal.seq, frames: terminal.frames)
        switch result.status {
        case .completed: counters.jobsCompleted += 1
        case .failed: counters.jobsFailed += 1
        case .cancelled: counters.jobsCancelled += 1
        }
        results.keep(result, runKey: job.runKey) { jobs[runKey: $0] != nil }
        var actions: [Action] = []
        if journaling {
            var kept = result
            kept.id = ""
            actions.append(.record(.finished(kept)))
        }
        if let client = job.client { actions.append(.pushResult(client, result)) }
        if case .owned(let raw) = terminal.frames { actions.append(.publish(raw)) }
        return actions
    }

    /// Counts and reports an input the job's state does not take.
    private mutating func refuse(_ input: String, _ job: Job, _ actions: inout [Action]) {
        counters.lifecycleRefused += 1
        actions.append(
            .unexpected("\(input) for run \(job.runKey) in state \(job.state.name) (attempt \(job.attempt))")
        )
    }

    /// The worker's copy of the terminal event, if it is well-formed and belongs to the job's current attempt.
    private func validTerminal(_ raw: RawEvent, job: Job) -> Terminal? {
        guard let h = try? EnvelopeHeader.scan(topic: raw.topic, envelope: raw.envelope),
            h.isTerminal, h.runKey == job.runKey, h.attempt == job.attempt
        else { return nil }
        return Terminal(raw: raw, attempt: h.attempt, seq: h.seq)
    }

    /// The terminal event the coordinator writes for a run that has none usable from its worker: `final`,
    /// `error` or `cancelled` as the result says, after the last event forwarded.
    func synthesizedTerminal(_ job: Job, result: RunResult) -> Terminal {
        let type: EventType =
            switch result.status {
            case .completed: .final
            case .failed: .error
            case .cancelled: .cancelled
            }
        let event = StreamEvent(
            namespace: job.namespace,
            runId: job.runId,
            seq: UInt64(job.lastSeq + 1),
            type: type,
            node: "flowpool",
            timestamp: WallClock.now,
            content: result.status == .completed
                ? result.result
                : ErrorContent.make(
                    code: result.errorCode?.rawValue ?? ErrorContent.flowFailed,
                    message: result.errorMessage ?? "failed",
                    node: "flowpool"
                )
        )
        let attempt = max(job.attempt, 1)
        let wire = WireEvent(event: event, attempt: attempt)
        return Terminal(
            raw: RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes),
            attempt: attempt,
            seq: job.lastSeq + 1
        )
    }
}

/// A run's terminal event: held by the coordinator, or borrowed from the message being handled (the caller then
/// publishes it).
enum TerminalFrames {
    case owned(RawEvent)
    case borrowed(topic: UnsafeRawBufferPointer, envelope: UnsafeRawBufferPointer)

    /// The event as frames of its own (a copy when borrowed).
    var owned: RawEvent {
        switch self {
        case .owned(let raw): raw
        case .borrowed(let topic, let envelope): RawEvent(topic: Array(topic), envelope: Array(envelope))
        }
    }
}

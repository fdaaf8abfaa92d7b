import FlowCore
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// A connected worker's moving parts: job intake with credit, flow execution, event pump, heartbeats, drain.
final class WorkerRuntime: Sendable {
    struct State {
        var inFlight = 0
        var completed = 0
        var failed = 0
        /// Slots freed but not yet granted to the coordinator as credit.
        var owed = 0
        var phase = Phase.running
        var doneWaiter: CheckedContinuation<Void, Never>?

        var draining: Bool {
            if case .running = phase { false } else { true }
        }
        var finished: Bool {
            if case .finished = phase { true } else { false }
        }
    }

    /// Where the worker is between start and stop.
    enum Phase: Sendable, Equatable {
        /// Takes jobs.
        case running
        /// Finishing the runs it holds, taking no new ones; since `since` (monotonic seconds), and `acked` once
        /// the coordinator confirmed that no job will follow (or stopped waiting for it).
        case draining(since: Double, acked: Bool)
        /// Everything held has finished: the worker says goodbye.
        case finished
    }

    /// A job being run, by attempt: its task once started, and whether the coordinator cancelled it.
    struct RunningAttempt {
        var task: Task<Void, Never>?
        var cancelled = false
    }

    let workerId: String
    let config: WorkerConfiguration
    let registry: FlowRegistry
    let loop: SocketLoop
    let dealer: SocketLoop.SocketHandle
    let publisher: SocketLoop.SocketHandle
    let logger: Logger
    let outbox: EventOutbox
    private let state = Mutex(State())
    /// The attempts being run, so that the coordinator's `cancel` reaches their tasks.
    private let attempts = Mutex<[JobAttempt: RunningAttempt]>([:])
    /// When the cooperative pool last ran the housekeeping task (monotonic milliseconds).
    private let housekeepingAt = Atomic<Int>(Int(WallClock.monotonic * 1000))
    /// Whether heartbeats are held back because the cooperative pool stopped making progress.
    private let heartbeatsHeld = Atomic<Bool>(false)
    /// Whether the coordinator said it takes `results` messages (its `registered` answer to `hello`).
    private let batchResults = Atomic<Bool>(false)
    /// The credential of the coordinator's `registered` answer: the third frame of every event message.
    let credential = Mutex<[UInt8]>([])
    /// Seconds a draining worker waits for `drain_ack` before it stops without one.
    static let drainAckTimeout = 3.0
    /// Seconds without housekeeping after which the worker stops heartbeating: its Swift runtime is wedged,
    /// so the coordinator should declare it dead and dispatch its jobs again.
    static let stallLimit = 10.0
    /// What a health endpoint reports.
    let health: WorkerHealth

    init(
        workerId: String,
        config: WorkerConfiguration,
        registry: FlowRegistry,
        loop: SocketLoop,
        dealer: SocketLoop.SocketHandle,
        publisher: SocketLoop.SocketHandle,
        health: WorkerHealth = WorkerHealth(),
        logger: Logger
    ) {
        self.health = health
        self.workerId = workerId
        self.config = config
        self.registry = registry
        self.loop = loop
        self.dealer = dealer
        self.publisher = publisher
        self.logger = logger
        self.outbox = EventOutbox(capacity: config.eventQueueCapacity, maxBytes: config.eventQueueBytes)
    }

    private var hello: WorkerReport {
        .hello(
            WorkerHello(
                workerId: workerId,
                host: ProcessInfoLite.hostName,
                pid: ProcessInfoLite.pid,
                concurrency: config.concurrency,
                flows: registry.names,
                batchJobs: true,
                batchResults: true
            )
        )
    }

    func run(commands: InboundMessages) async throws {
        try await loop.send(hello.frames, on: dealer)
        try await loop.send(WorkerReport.ready(credit: config.concurrency).frames, on: dealer)
        // Heartbeats leave from the loop's own thread, on time however busy the cooperative pool is.
        loop.setTimer(every: config.heartbeatInterval) { [self] io in heartbeat(io) }
        // Also on the error paths: the timer's closure holds this runtime.
        defer { loop.cancelTimer() }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.pump() }
                group.addTask { await self.housekeeping() }
                group.addTask {
                    await withTaskGroup(of: Void.self) { intake in
                        intake.addTask {
                            await withTaskCancellationHandler {
                                await self.intake(commands)
                            } onCancel: {
                                // Stopped without a drain: the runs' tasks stop too.
                                for task in self.attempts.withLock({ $0.values.compactMap(\.task) }) { task.cancel() }
                            }
                        }
                        await self.waitUntilDone()
                        intake.cancelAll()
                    }
                    // Nothing is in flight any more: let the pump send what is left and stop.
                    self.outbox.finish()
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.beginDrain()
        }
        // Everything held has finished: flush events, then say goodbye.
        loop.cancelTimer()
        try? await loop.sendConfirmed(WorkerReport.bye.frames, on: dealer)
        let s = state.withLock { $0 }
        logger.info(
            "worker stopped",
            metadata: ["completed": "\(s.completed)", "failed": "\(s.failed)", "events.dropped": "\(outbox.dropped)"]
        )
    }

    // MARK: Intake

    private func intake(_ commands: InboundMessages) async {
        var iterator = commands.makeAsyncIterator()
        while let batch = await iterator.nextBatch() {
            var received: [JobAssignment] = []
            var others: [WorkerCommand] = []
            for frames in batch {
                do {
                    switch try WorkerCommand.decode(frames) {
                    case .job(let job): received.append(job)
                    case .jobs(let jobs): received += jobs
                    case .registered(let batch, let credential):
                        batchResults.store(batch, ordering: .relaxed)
                        self.credential.withLock { $0 = Array(credential.utf8) }
                        health.markRegistered()
                    case let other: others.append(other)
                    }
                } catch {
                    logger.warning("undecodable message from the coordinator: \(error)")
                }
            }
            if !received.isEmpty {
                // One ack for every job of the batch.
                state.withLock { $0.inFlight += received.count }
                attempts.withLock { a in
                    for job in received { a[JobAttempt(job: job.job, attempt: job.attempt)] = RunningAttempt() }
                }
                loop.trySend(
                    WorkerReport.ack(received.map { JobAttempt(job: $0.job, attempt: $0.attempt) }).frames,
                    on: dealer
                )
                // Each run in a task of its own, so that the coordinator's `cancel` reaches it alone (with the
                // executor preference of the worker's tasks, which an unstructured task does not inherit).
                let preference: (any TaskExecutor)? = config.executor == .loop ? loop.executor : nil
                for job in received {
                    let task = Task(executorPreference: preference) { await self.execute(job) }
                    let cancelled = attempts.withLock { a -> Bool in
                        let key = JobAttempt(job: job.job, attempt: job.attempt)
                        guard a[key] != nil else { return false }  // already finished
                        a[key]!.task = task
                        return a[key]!.cancelled
                    }
                    if cancelled { task.cancel() }
                }
            }
            for command in others { await handle(command) }
        }
    }

    /// Handles the coordinator's messages other than jobs.
    private func handle(_ command: WorkerCommand) async {
        switch command {
        case .job, .jobs, .registered:
            break
        case .reregister:
            // Another coordinator, perhaps: single results until it says it takes batches.
            batchResults.store(false, ordering: .relaxed)
            let free = state.withLock { s in
                s.owed = 0
                return s.draining ? 0 : config.concurrency - s.inFlight
            }
            try? await loop.send(hello.frames, on: dealer)
            if free > 0 { try? await loop.send(WorkerReport.ready(credit: free).frames, on: dealer) }
        case .drainAck:
            state.withLock { s in
                if case .draining(let since, _) = s.phase { s.phase = .draining(since: since, acked: true) }
            }
            checkDone()
        case .cancel(let job, let attempt, let reason):
            let task: Task<Void, Never>? = attempts.withLock { a in
                let key = JobAttempt(job: job, attempt: attempt)
                guard a[key] != nil else { return nil }
                a[key]!.cancelled = true
                return a[key]!.task
            }
            logger.debug("cancelling attempt \(attempt) of job \(job): \(reason)")
            task?.cancel()
        case .error(let code, let message):
            logger.warning("the coordinator rejected a report: \(code): \(message)")
        }
    }

    // MARK: Execution

    private func execute(_ job: JobAssignment) async {
        let sink = JobSink(attempt: job.attempt, namespace: job.namespace, runId: job.runId, outbox: outbox)
        var status = RunResult.Status.completed
        var value: JSONValue = .null
        var code: PoolErrorCode?
        var message: String?
        if let factory = registry.factory(for: job.flow) {
            do {
                let invocation = try factory(job.input)
                do {
                    let result = try await invocation.flow.run(
                        invocation.store,
                        namespace: job.namespace,
                        runId: job.runId,
                        params: invocation.params,
                        sink: sink,
                        logger: logger
                    )
                    value = result.value
                } catch is CancellationError {
                    status = .cancelled
                    code = .cancelled
                    message = "the attempt was cancelled"
                } catch {
                    status = .failed
                    code = .flowFailed
                    message = "\(error)"
                }
            } catch {
                status = .failed
                code = .badInput
                message = "flow \(job.flow) rejected its input: \(error)"
            }
        } else {
            status = .failed
            code = .unknownFlow
            message =
                "this worker has no flow named \"\(job.flow)\" (it has: \(registry.names.joined(separator: ", ")))"
        }
        let terminal: RawEvent
        if let t = sink.terminal {
            terminal = t
        } else {
            // Nothing ran (unknown flow, bad input): the run still gets exactly one terminal event.
            let event = StreamEvent(
                namespace: job.namespace,
                runId: job.runId,
                seq: 1,
                type: .error,
                node: job.flow,
                timestamp: WallClock.now,
                content: ErrorContent.make(
                    code: code?.rawValue ?? ErrorContent.flowFailed,
                    message: message ?? "failed",
                    node: job.flow
                )
            )
            let wire = WireEvent(event: event, attempt: job.attempt)
            terminal = RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
            outbox.push(terminal)
        }
        if status == .failed {
            logger.debug(
                "run failed: \(message ?? "")",
                metadata: ["job.id": "\(job.job)", "run.id": "\(job.runId)"]
            )
        }
        let result = WorkerResult(
            job: job.job,
            attempt: job.attempt,
            status: status,
            result: value,
            errorCode: code,
            errorMessage: message,
            terminal: terminal
        )
        // The pump sends it after the run's events, with the other results finished meanwhile, then grants
        // the slot as credit.
        outbox.push(result: EventOutbox.PendingResult(element: result.element, terminal: terminal))
        attempts.withLock { _ = $0.removeValue(forKey: JobAttempt(job: job.job, attempt: job.attempt)) }
        state.withLock { s in
            s.inFlight -= 1
            s.completed += 1
            if status != .completed { s.failed += 1 }
        }
        checkDone()
    }

    // MARK: Credit

    /// Grants freed slots to the coordinator, unless draining or the event backlog is too long.
    private func grantCredit(force: Bool) {
        let credit: Int = state.withLock { s in
            guard !s.draining, s.owed > 0, outbox.count <= config.maxEventBacklog,
                outbox.bytes <= config.eventQueueBytes / 4
            else { return 0 }
            let batch = max(1, config.concurrency / 8)
            guard force || s.owed >= batch || s.inFlight == 0 else { return 0 }
            defer { s.owed = 0 }
            return s.owed
        }
        if credit > 0 { loop.trySend(WorkerReport.ready(credit: credit).frames, on: dealer) }
    }

    // MARK: Events

    /// Sends the outbox's events and then the results queued after them, and grants the slots of those
    /// results as credit; until the outbox is finished, empty and sent.
    ///
    /// Results queued after events are handed to the job channel by the loop thread once libzmq has taken
    /// those events, so a result never leaves before its run's events. With runs on the cooperative pool the
    /// pump does not wait for that (waiting would cost a hop back from the loop per turn); with runs on the
    /// loop it does, so that what the runs queue meanwhile leaves as one batch at the next turn.
    private func pump() async throws {
        // The last batch handed to the loop, until libzmq has taken it.
        var last: AfterSend?
        let waits = config.executor == .loop
        while let taken = await outbox.take() {
            let results = messages(for: taken.results)
            if !taken.batches.isEmpty {
                let next = AfterSend(results: results, count: taken.results.count)
                try await send(taken.batches, then: next)
                last = next
                if waits { await next.waitUntilSent() }
            } else if last?.append(results, count: taken.results.count) != true {
                // No event is on its way: the results go now.
                try await loop.send(contentsOf: results, on: dealer)
                resultsSent(taken.results.count)
            }
        }
        // The outbox is finished and empty: return once its last events (and the results after them) have left.
        await outbox.waitUntilSent()
    }

    /// Results to send once a batch of events has left, unless that has happened already.
    private final class AfterSend: Sendable {
        private let state:
            Mutex<(sent: Bool, results: [[[UInt8]]], count: Int, waiter: CheckedContinuation<Void, Never>?)>

        init(results: [[[UInt8]]], count: Int) { state = Mutex((false, results, count, nil)) }

        /// Returns once the batch has left.
        func waitUntilSent() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let sent = state.withLock { state in
                    if !state.sent { state.waiter = continuation }
                    return state.sent
                }
                if sent { continuation.resume() }
            }
        }

        /// Queues more results behind the batch; false when the batch has left (send them now).
        func append(_ results: [[[UInt8]]], count: Int) -> Bool {
            state.withLock { state in
                guard !state.sent else { return false }
                state.results += results
                state.count += count
                return true
            }
        }

        /// Marks the batch sent and returns the results queued behind it; wakes a waiting pump.
        func sent() -> (results: [[[UInt8]]], count: Int) {
            let (results, count, waiter) = state.withLock { state in
                state.sent = true
                defer {
                    state.results = []
                    state.waiter = nil
                }
                return (state.results, state.count, state.waiter)
            }
            waiter?.resume()
            return (results, count)
        }
    }

    /// Counts sent results' slots as owed credit and grants what is due.
    private func resultsSent(_ n: Int) {
        if n > 0 { state.withLock { $0.owed += n } }
        grantCredit(force: false)
    }

    /// Results as messages of the job channel: `results` messages of at most ``WorkerResults/maxPerMessage``
    /// when the coordinator takes them, else one `result` message each.
    private func messages(for results: [EventOutbox.PendingResult]) -> [[[UInt8]]] {
        guard batchResults.load(ordering: .relaxed) else {
            return results.map {
                [WorkerResult.resultFrame(element: $0.element), $0.terminal.topic, $0.terminal.envelope]
            }
        }
        var messages: [[[UInt8]]] = []
        var start = 0
        while start < results.count {
            let chunk = results[start..<min(start + WorkerResults.maxPerMessage, results.count)]
            messages.append(WorkerResults.frames(elements: chunk.map(\.element), terminals: chunk.map(\.terminal)))
            start += chunk.count
        }
        return messages
    }

    /// Hands packed event batches to the loop without waiting for them to leave. They stay in the outbox's
    /// count (the backlog that holds back credit) until libzmq has taken them; then, on the loop thread, the
    /// results queued behind them go to the job channel and the credit due is granted.
    private func send(_ batches: [EventOutbox.Batch], then after: AfterSend) async throws {
        let count = batches.reduce(0) { $0 + $1.count }
        let bytes = batches.reduce(0) { $0 + $1.body.count }
        let credential = credential.withLock { $0 }
        try await loop.send(contentsOf: batches.map { [EventBatch.marker, $0.body, credential] }, on: publisher) {
            [self] _ in
            let (results, runs) = after.sent()
            // At most one result per run in flight: the job channel's queue has room for them.
            for message in results where !loop.trySend(message, on: dealer) {
                logger.warning("a result could not be queued for the coordinator (the worker is stopping)")
            }
            if runs > 0 { state.withLock { $0.owed += runs } }
            // Then the backlog shrinks (which may end a drain's wait for the pump: the results are queued first).
            outbox.markSent(count, bytes: bytes)
            grantCredit(force: false)
        }
    }

    // MARK: Heartbeats and drain

    /// Sends a heartbeat; runs on the loop thread every heartbeat interval.
    ///
    /// A heartbeat says the process and its flow runtime are alive: when the housekeeping task on the
    /// cooperative pool has not run for ``stallLimit`` seconds (a wedged runtime, not a merely busy one),
    /// heartbeats stop, the coordinator declares the worker dead and dispatches its jobs again.
    private func heartbeat(_ io: SocketLoop.IO) {
        let s = state.withLock {
            (inFlight: $0.inFlight, completed: $0.completed, draining: $0.draining, finished: $0.finished)
        }
        guard !s.finished else { return }
        let idle = WallClock.monotonic - Double(housekeepingAt.load(ordering: .relaxed)) / 1000
        guard idle < Self.stallLimit else {
            if !heartbeatsHeld.exchange(true, ordering: .relaxed) {
                logger.error("no progress on the flow runtime for \(Int(idle)) s; holding heartbeats back")
            }
            return
        }
        if heartbeatsHeld.exchange(false, ordering: .relaxed) {
            logger.notice("the flow runtime is making progress again; heartbeats resume")
        }
        io.send(
            WorkerReport.heartbeat(inFlight: s.inFlight, completed: s.completed, draining: s.draining).frames,
            on: dealer
        )
    }

    /// Grants owed credit, gives up waiting for a drain acknowledgement after a while, and shows the
    /// heartbeat timer that the flow runtime makes progress; every heartbeat interval, on the cooperative pool.
    private func housekeeping() async {
        var metrics = WorkerMetrics()
        while !Task.isCancelled && !state.withLock({ $0.finished }) {
            let now = Int(WallClock.monotonic * 1000)
            housekeepingAt.store(now, ordering: .relaxed)
            health.markRuntime(atMilliseconds: now)
            let s = state.withLock { $0 }
            metrics.report(
                inFlight: s.inFlight,
                backlog: outbox.count,
                completed: s.completed,
                failed: s.failed,
                dropped: outbox.dropped
            )
            grantCredit(force: true)
            // Without a coordinator to acknowledge the drain, stop waiting for it after a while.
            if case .draining(let since, acked: false) = s.phase, WallClock.monotonic - since > Self.drainAckTimeout {
                logger.warning("no drain acknowledgement from the coordinator; stopping anyway")
                state.withLock { s in
                    if case .draining(let since, _) = s.phase { s.phase = .draining(since: since, acked: true) }
                }
                checkDone()
            }
            logger.debug(
                "housekeeping",
                metadata: [
                    "in_flight": "\(s.inFlight)", "owed": "\(s.owed)", "backlog": "\(outbox.count)",
                    "completed": "\(s.completed)",
                ]
            )
            try? await Task.sleep(for: config.heartbeatInterval)
        }
    }

    private func beginDrain() {
        health.markDraining()
        let s = state.withLock { s in
            if case .running = s.phase { s.phase = .draining(since: WallClock.monotonic, acked: false) }
            return s
        }
        logger.info("draining: finishing \(s.inFlight) runs, taking no new ones")
        loop.trySend(
            WorkerReport.heartbeat(inFlight: s.inFlight, completed: s.completed, draining: true).frames,
            on: dealer
        )
    }

    private func checkDone() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            guard case .draining(_, acked: true) = s.phase, s.inFlight == 0 else { return nil }
            s.phase = .finished
            defer { s.doneWaiter = nil }
            return s.doneWaiter
        }
        waiter?.resume()
    }

    /// Returns once a drain has completed, or when the task is cancelled.
    private func waitUntilDone() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let done = state.withLock { s in
                    if s.finished || Task.isCancelled { return true }
                    s.doneWaiter = c
                    return false
                }
                if done { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                defer { s.doneWaiter = nil }
                return s.doneWaiter
            }
            waiter?.resume()
        }
    }
}

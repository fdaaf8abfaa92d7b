import FlowCore
import Testing

@testable import FlowPool

/// The coordinator's bookkeeping without sockets: leases, redispatch, duplicates, terminal events.
@Suite("Coordinator state machine")
struct CoordinatorStateTests {
    let w1: [UInt8] = Array("w1".utf8)
    let w2: [UInt8] = Array("w2".utf8)
    let client: [UInt8] = Array("c".utf8)

    func makeState(
        maxQueue: Int = 100,
        maxQueueBytes: Int = 256 << 20,
        maxAttempts: Int = 3,
        resultRetentionBytes: Int = 64 << 20
    ) -> CoordinatorState {
        CoordinatorState(
            config: CoordinatorConfiguration(
                maxQueue: maxQueue,
                maxQueueBytes: maxQueueBytes,
                maxAttempts: maxAttempts,
                heartbeatTimeout: .seconds(2),
                ackTimeout: .seconds(5),
                leaseTimeout: .seconds(60),
                terminalGrace: .seconds(1),
                resultRetentionBytes: resultRetentionBytes
            ),
            instanceId: "t"
        )
    }

    func register(_ s: inout CoordinatorState, _ w: [UInt8], credit: Int, now: Double = 0) {
        _ = s.report(
            .hello(
                WorkerHello(
                    workerId: String(decoding: w, as: UTF8.self),
                    host: "h",
                    pid: 1,
                    concurrency: credit,
                    flows: []
                )
            ),
            from: w,
            now: now
        )
        _ = s.report(.ready(credit: credit), from: w, now: now)
    }

    func jobs(_ actions: [CoordinatorState.Action]) -> [(worker: [UInt8], job: JobAssignment)] {
        actions.compactMap { action in
            guard let (w, frames) = action.workerFrames, case .job(let j)? = try? WorkerCommand.decode(frames)
            else {
                return nil
            }
            return (w, j)
        }
    }

    func terminal(_ job: JobAssignment, seq: Int = 2) -> RawEvent {
        let wire = WireEvent(
            event: StreamEvent(
                namespace: job.namespace,
                runId: job.runId,
                seq: UInt64(seq),
                type: .final,
                node: "n",
                timestamp: 1,
                content: "done"
            ),
            attempt: job.attempt
        )
        return RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
    }

    func event(_ job: JobAssignment, seq: Int, attempt: Int? = nil) -> (EnvelopeHeader, RawEvent) {
        let wire = WireEvent(
            event: StreamEvent(
                namespace: job.namespace,
                runId: job.runId,
                seq: UInt64(seq),
                type: .chunk,
                node: "n",
                timestamp: 1,
                content: "x"
            ),
            attempt: attempt ?? job.attempt
        )
        let raw = RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
        return (try! EnvelopeHeader.scan(topic: raw.topic, envelope: raw.envelope), raw)
    }

    func result(_ job: JobAssignment, terminalSeq: Int = 2) -> WorkerReport {
        .result(
            WorkerResult(
                job: job.job,
                attempt: job.attempt,
                status: .completed,
                result: "done",
                terminal: terminal(job, seq: terminalSeq)
            )
        )
    }

    func published(_ actions: [CoordinatorState.Action]) -> [RawEvent] {
        actions.compactMap { if case .publish(let r) = $0 { return r } else { return nil } }
    }

    @Test("the per-subscriber buffer sets the high-water mark in batches; an explicit one wins")
    func subscriberHighWaterMark() {
        #expect(CoordinatorConfiguration().subscriberHighWaterMark == 2_048)
        #expect(CoordinatorConfiguration(subscriberBufferBytes: 3 << 20).subscriberHighWaterMark == 96)
        #expect(CoordinatorConfiguration(subscriberBufferBytes: 1_000).subscriberHighWaterMark == 16)
        var config = CoordinatorConfiguration(subscriberBufferBytes: 1 << 20, subscriberHighWaterMark: 5)
        #expect(config.subscriberHighWaterMark == 5)
        config.subscriberHighWaterMark = 7
        #expect(config.subscriberHighWaterMark == 7)
        #expect(config.subscriberBufferBytes == 1 << 20)
    }

    @Test("a stalled report from another socket keeps the named worker alive; one for nobody is ignored")
    func stalledReport() throws {
        var s = makeState()
        register(&s, w1, credit: 1)
        let watchdog: [UInt8] = Array("watchdog-socket".utf8)
        let id = String(decoding: w1, as: UTF8.self)
        // w1's own heartbeats stop at 0; its watchdog vouches for it past the heartbeat timeout.
        let credential = s.credentials.credential(for: w1)
        #expect(
            s.report(.stalled(worker: id, busyMilliseconds: 900, credential: credential), from: watchdog, now: 1.5)
                .isEmpty
        )
        #expect(
            s.report(.stalled(worker: id, busyMilliseconds: 1900, credential: credential), from: watchdog, now: 2.5)
                .isEmpty
        )
        _ = s.tick(now: 3.0)
        #expect(s.counters.workersLost == 0 && s.counters.stallReports == 2)
        // Not for a worker it knows: no reply (the sender is no worker), nothing counted.
        let nobody = s.credentials.credential(for: Array("nobody".utf8))
        #expect(
            s.report(.stalled(worker: "nobody", busyMilliseconds: 5, credential: nobody), from: watchdog, now: 3.1)
                .isEmpty
        )
        #expect(s.counters.stallReports == 2 && s.workers[watchdog] == nil)
        // Naming w1 without its credential keeps nobody alive: it is counted as forged.
        let forged = s.report(
            .stalled(worker: id, busyMilliseconds: 5, credential: "77317a.00"),
            from: watchdog,
            now: 3.2
        )
        #expect(!forged.contains { $0.workerFrames != nil })
        #expect(s.counters.stallReports == 2 && s.counters.rejectedForged == 1)
        // Without reports, the silence ends it as before.
        _ = s.tick(now: 4.6)
        #expect(s.counters.workersLost == 1)
    }

    @Test("a dead worker's job is dispatched again; the late duplicate result is discarded and counted")
    func redispatchAndDuplicate() throws {
        var s = makeState()
        register(&s, w1, credit: 1)
        let first = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "1", flow: "f", namespace: "ns", runId: "r", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        )
        #expect(first.worker == w1 && first.job.attempt == 1)
        register(&s, w2, credit: 1, now: 1.5)
        // w1 falls silent; w2 keeps heartbeating.
        _ = s.report(.heartbeat(inFlight: 0, completed: 0, draining: false), from: w2, now: 2.5)
        let again = try #require(jobs(s.tick(now: 2.6)).first)
        #expect(again.worker == w2 && again.job.attempt == 2)
        #expect(s.counters.workersLost == 1 && s.counters.jobsRedispatched == 1)
        // The stale attempt's events are not forwarded; the current one's are.
        let (h1, r1) = event(first.job, seq: 1)
        #expect(s.event(h1, raw: r1, now: 2.7).0 == .drop)
        let (h2, r2) = event(again.job, seq: 1)
        #expect(s.event(h2, raw: r2, now: 2.7).0 == .forward)
        // Current attempt's terminal event, then its result: accepted, and the result goes to the client once.
        let t2 = terminal(again.job)
        _ = s.event(try EnvelopeHeader.scan(topic: t2.topic, envelope: t2.envelope), raw: t2, now: 2.75)
        let accepted = s.report(result(again.job), from: w2, now: 2.8)
        #expect(accepted.contains { if case .pushResult = $0 { return true } else { return false } })
        // The old attempt's late result: discarded, counted.
        let late = s.report(result(first.job), from: w1, now: 2.9)
        #expect(late.isEmpty)
        #expect(s.counters.duplicateResults == 1)
    }

    @Test("inputs held for unfinished runs are bounded in bytes: past the bound submits get pool_full")
    func inputBytesBound() throws {
        var s = makeState(maxQueueBytes: 2_000)
        register(&s, w1, credit: 1)
        let big = String(repeating: "x", count: 800)
        func submit(_ id: String) -> ControlReply? {
            let actions = s.submit(
                SubmitRequest(id: id, flow: "f", namespace: "ns", runId: id, input: ["q": .string(big)]),
                client: client,
                now: 0
            )
            guard let (_, frames) = actions.first?.clientFrames else { return nil }
            return try? ControlReply.decode(frames)
        }
        // Two inputs of ~850 bytes fit in 2,000 (one running, one queued); the third does not.
        guard case .accepted? = submit("a"), case .accepted? = submit("b") else {
            Issue.record("the first two submits were refused")
            return
        }
        #expect(s.jobs.inputBytes > 1_600 && s.jobs.inputBytes <= 2_000)
        guard case .error(_, let code, let message)? = submit("c") else {
            Issue.record("the third submit was accepted over the byte bound")
            return
        }
        #expect(code == .poolFull)
        #expect(message.contains("--max-queue-mb"), "\(message)")
        #expect(s.counters.submitsRejectedFull == 1)
        // Once the running one finishes, its input is released and a new run fits again.
        let a = try #require(s.jobs.all.first { $0.runId == "a" })
        let job = JobAssignment(job: a.id, attempt: a.attempt, flow: "f", namespace: "ns", runId: "a", input: nil)
        _ = s.report(result(job), from: w1, now: 0.1)
        let ta = terminal(job)
        _ = s.event(try EnvelopeHeader.scan(topic: ta.topic, envelope: ta.envelope), raw: ta, now: 0.1)
        #expect(s.activeJobs == 1)
        guard case .accepted? = submit("d") else {
            Issue.record("a submit was refused after an input was released")
            return
        }
        // A run is accepted whatever its size when nothing else is held.
        var empty = makeState(maxQueueBytes: 100)
        let actions = empty.submit(
            SubmitRequest(id: "e", flow: "f", namespace: "ns", runId: "e", input: ["q": .string(big)]),
            client: client,
            now: 0
        )
        guard let (_, frames) = actions.first?.clientFrames, case .accepted = try ControlReply.decode(frames) else {
            Issue.record("a lone run over the bound was refused")
            return
        }
    }

    @Test("finished results are kept within a byte budget: the oldest are forgotten first")
    func resultRetentionBytes() throws {
        var s = makeState(resultRetentionBytes: 3_000)
        register(&s, w1, credit: 1)
        let answer = String(repeating: "a", count: 700)
        for i in 0..<6 {
            let job = try #require(
                jobs(
                    s.submit(
                        SubmitRequest(id: "c\(i)", flow: "f", namespace: "ns", runId: "r\(i)", input: nil),
                        client: client,
                        now: 0
                    )
                ).first
            ).job
            _ = s.report(
                .result(
                    WorkerResult(
                        job: job.job,
                        attempt: job.attempt,
                        status: .completed,
                        result: .string(answer),
                        terminal: terminal(job)
                    )
                ),
                from: w1,
                now: 0.1
            )
            let t = terminal(job)
            let (disposition, actions) = s.event(
                try EnvelopeHeader.scan(topic: t.topic, envelope: t.envelope),
                raw: t,
                now: 0.1
            )
            _ = s.report(.ready(credit: 1), from: w1, now: 0.1)
            #expect(disposition == .forward && published(actions).isEmpty, "the caller forwards it as it came")
        }
        #expect(s.counters.jobsCompleted == 6)
        #expect(s.results.bytes <= 3_000 && s.results.bytes > 2_000, "\(s.results.bytes)")
        #expect(s.results.count == 3)
        guard case .result(let newest) = s.result(id: "g", namespace: "ns", runId: "r5") else {
            Issue.record("the newest result was not kept")
            return
        }
        #expect(newest.result == .string(answer))
        guard case .error(_, .notFound, let message) = s.result(id: "g", namespace: "ns", runId: "r0") else {
            Issue.record("the oldest result was kept beyond the budget")
            return
        }
        #expect(message.contains("evicted"))
    }

    @Test("exactly one terminal event: the bus copy when it comes, else the result's copy after the grace period")
    func terminalOnce() throws {
        var s = makeState()
        register(&s, w1, credit: 2)
        let a = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "a", flow: "f", namespace: "ns", runId: "a", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        ).job
        let b = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "b", flow: "f", namespace: "ns", runId: "b", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        ).job
        // a: the bus terminal arrives first and is held until the result.
        let ta = terminal(a)
        let ha = try EnvelopeHeader.scan(topic: ta.topic, envelope: ta.envelope)
        let (d, held) = s.event(ha, raw: ta, now: 0.1)
        #expect(d == .hold && published(held).isEmpty)
        #expect(published(s.report(result(a), from: w1, now: 0.2)) == [ta])
        // A second copy of the terminal is dropped.
        #expect(s.event(ha, raw: ta, now: 0.3).0 == .drop)
        // b: the result arrives first; nothing is published until the grace period ends.
        #expect(published(s.report(result(b), from: w1, now: 0.2)).isEmpty)
        #expect(published(s.tick(now: 0.5)).isEmpty)
        #expect(published(s.tick(now: 1.3)) == [terminal(b)])
        #expect(s.counters.terminalsFromResult == 1)
        // Both terminal events are kept for replay at their own seq.
        #expect(s.replay.events(runKey: "ns/a", attempt: 1, from: 2, to: 2) == [ta])
        #expect(s.replay.events(runKey: "ns/b", attempt: 1, from: 2, to: 2) == [terminal(b)])
        #expect(s.activeJobs == 0)
        #expect(s.counters.jobsCompleted == 2)
    }

    @Test("a result whose events died with its worker is not trusted: the run is dispatched again")
    func incompleteResult() throws {
        var s = makeState()
        register(&s, w1, credit: 1)
        register(&s, w2, credit: 1)
        let first = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "1", flow: "f", namespace: "ns", runId: "r", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        )
        // The result arrives, the events never do, and the worker falls silent.
        let pushed = s.report(result(first.job), from: first.worker, now: 0.5)
        #expect(pushed.isEmpty, "no result to the client before the run's terminal event")
        let other = first.worker == w1 ? w2 : w1
        _ = s.report(.heartbeat(inFlight: 0, completed: 0, draining: false), from: other, now: 2.5)
        let again = try #require(jobs(s.tick(now: 2.6)).first)
        #expect(again.worker == other && again.job.attempt == 2)
        let t2 = terminal(again.job)
        _ = s.event(try EnvelopeHeader.scan(topic: t2.topic, envelope: t2.envelope), raw: t2, now: 2.7)
        let done = s.report(result(again.job), from: other, now: 2.8)
        #expect(published(done) == [t2])
        #expect(done.filter { if case .pushResult = $0 { return true } else { return false } }.count == 1)
        #expect(s.counters.jobsCompleted == 1)
    }

    @Test("a run whose attempts are all lost fails with attempts_exhausted and a synthesized error event")
    func attemptsExhausted() throws {
        var s = makeState(maxAttempts: 1)
        register(&s, w1, credit: 1)
        let j = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "x", flow: "f", namespace: "ns", runId: "x", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        ).job
        let (h, r) = event(j, seq: 1)
        _ = s.event(h, raw: r, now: 0.1)
        let actions = s.tick(now: 5)
        let events = published(actions)
        #expect(events.count == 1)
        let e = try #require(try? events[0].decode())
        #expect(e.event.type == .error && e.event.seq == 2)
        let replies = actions.compactMap { action -> ControlReply? in
            if case .pushResult(_, let result) = action { return .result(result) }
            return nil
        }
        guard case .result(let res)? = replies.first else {
            Issue.record("no result pushed")
            return
        }
        #expect(res.status == .failed && res.errorCode == .attemptsExhausted)
    }

    @Test("submits beyond the queue bound are refused with pool_full; duplicates of active runs too")
    func backpressure() {
        var s = makeState(maxQueue: 2)
        for i in 0..<2 {
            _ = s.submit(
                SubmitRequest(id: "\(i)", flow: "f", namespace: "ns", runId: "r\(i)", input: nil),
                client: client,
                now: 0
            )
        }
        let refused = s.submit(SubmitRequest(id: "2", flow: "f", namespace: "ns", input: nil), client: client, now: 0)
        guard let (_, frames) = refused.first?.clientFrames,
            case .error(_, let code, _)? = try? ControlReply.decode(frames)
        else {
            Issue.record("expected an error reply")
            return
        }
        #expect(code == .poolFull)
        #expect(s.jobs.queuedCount == 2)
    }

    @Test("jobs dispatched at once go to a worker that takes batches in one jobs message, in order")
    func jobsInOneMessage() throws {
        var s = makeState()
        _ = s.report(
            .hello(WorkerHello(workerId: "w1", host: "h", pid: 1, concurrency: 3, flows: [], batchJobs: true)),
            from: w1,
            now: 0
        )
        for i in 0..<3 {
            _ = s.submit(
                SubmitRequest(id: "r\(i)", flow: "f", namespace: "ns", runId: "r\(i)", input: nil),
                client: client,
                now: 0
            )
        }
        let actions = s.report(.ready(credit: 3), from: w1, now: 0.1)
        #expect(actions.count == 1)
        guard let (worker, frames) = actions.first?.workerFrames,
            case .jobs(let list) = try WorkerCommand.decode(frames)
        else {
            Issue.record("expected one jobs message, got \(actions)")
            return
        }
        #expect(worker == w1)
        #expect(list.map(\.runId) == ["r0", "r1", "r2"])
        #expect(list.allSatisfy { $0.attempt == 1 })
    }

    @Test("a results message completes each of its runs exactly once; stale and duplicate elements are discarded")
    func resultsMessage() throws {
        var s = makeState()
        let hello = WorkerHello(workerId: "w1", host: "h", pid: 1, concurrency: 4, flows: [], batchResults: true)
        let welcome = s.report(.hello(hello), from: w1, now: 0)
        #expect(
            welcome.contains { action in
                guard let (w, frames) = action.workerFrames else { return false }
                return w == w1
                    && (try? WorkerCommand.decode(frames))
                        == .registered(batchResults: true, credential: s.credentials.credential(for: w1))
            },
            "a worker that offers results is told they are understood"
        )
        _ = s.report(.ready(credit: 4), from: w1, now: 0)
        var dispatched: [JobAssignment] = []
        for run in ["a", "b", "c", "d"] {
            let actions = s.submit(
                SubmitRequest(id: run, flow: "f", namespace: "ns", runId: run, input: nil),
                client: client,
                now: 0
            )
            dispatched += jobs(actions).map(\.job)
        }
        try #require(dispatched.map(\.runId) == ["a", "b", "c", "d"])
        let (a, b, c, d) = (dispatched[0], dispatched[1], dispatched[2], dispatched[3])
        // The bus terminals of a and b are in before the results; c's and d's come later.
        for job in [a, b] {
            let t = terminal(job)
            _ = s.event(try EnvelopeHeader.scan(topic: t.topic, envelope: t.envelope), raw: t, now: 0.1)
        }
        func element(_ job: JobAssignment, attempt: Int? = nil) -> WorkerResult {
            var stale = job
            stale.attempt = attempt ?? job.attempt
            guard case .result(let r) = result(stale) else { fatalError("not a result") }
            return r
        }
        func pushed(_ actions: [CoordinatorState.Action]) -> [String] {
            actions.compactMap { if case .pushResult(_, let r) = $0 { return r.runId } else { return nil } }
        }
        let batch = WorkerResults([element(a), element(b), element(c), element(a), element(d, attempt: 2)])
        let first = s.report(.results(batch), from: w1, now: 0.2)
        #expect(pushed(first) == ["a", "b"])
        #expect(published(first).count == 2)
        #expect(s.counters.duplicateResults == 2, "a's second copy and d's unknown attempt")
        #expect(s.counters.resultBatches == 1 && s.counters.resultsBatched == 5)
        // c's terminal arrives: c completes. d's real result comes in the next message, with a late copy of b.
        let tc = terminal(c)
        let third = s.event(try EnvelopeHeader.scan(topic: tc.topic, envelope: tc.envelope), raw: tc, now: 0.3)
        #expect(pushed(third.1) == ["c"])
        let td = terminal(d)
        _ = s.event(try EnvelopeHeader.scan(topic: td.topic, envelope: td.envelope), raw: td, now: 0.3)
        let second = s.report(.results(WorkerResults([element(b), element(d)])), from: w1, now: 0.4)
        #expect(pushed(second) == ["d"])
        #expect(s.counters.duplicateResults == 3)
        #expect(s.counters.jobsCompleted == 4 && s.activeJobs == 0)
        #expect(s.counters.resultBatches == 2 && s.counters.resultsBatched == 7)
        // Nothing more happens to finished runs.
        #expect(pushed(s.tick(now: 5)).isEmpty)
    }

    @Test("a worker that does not offer results is registered with its credential and batch_results false")
    func noResultsOffer() {
        var s = makeState()
        let hello = WorkerHello(workerId: "w1", host: "h", pid: 1, concurrency: 1, flows: [])
        let actions = s.report(.hello(hello), from: w1, now: 0)
        let credential = s.credentials.credential(for: w1)
        #expect(
            actions.contains { action in
                guard let (w, frames) = action.workerFrames else { return false }
                return w == w1
                    && (try? WorkerCommand.decode(frames)) == .registered(batchResults: false, credential: credential)
            }
        )
        #expect(credential != s.credentials.credential(for: w2), "each identity has its own")
    }

    @Test("a worker's bye leaves a run whose result is in to wait for its terminal event, not to run again")
    func byeKeepsRunAwaitingTerminal() throws {
        var s = makeState()
        register(&s, w1, credit: 1)
        let j = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "b", flow: "f", namespace: "ns", runId: "b", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        ).job
        #expect(s.report(result(j), from: w1, now: 0.1).isEmpty, "the result waits for its terminal event")
        let bye = s.report(.bye, from: w1, now: 0.2)
        #expect(jobs(bye).isEmpty && s.counters.jobsRedispatched == 0)
        let t = terminal(j)
        let (disposition, done) = s.event(
            try EnvelopeHeader.scan(topic: t.topic, envelope: t.envelope),
            raw: t,
            now: 0.3
        )
        #expect(disposition == .forward && published(done).isEmpty, "the result is in: the event goes out as it came")
        #expect(s.replay.events(runKey: "ns/b", attempt: 1, from: 1, to: nil)?.last == t, "and is kept for replay")
        #expect(done.contains { if case .pushResult = $0 { return true } else { return false } })
        #expect(s.counters.jobsCompleted == 1)
    }

    @Test("silence counts only up to what the coordinator has read: a held-up coordinator declares no one dead")
    func silenceUpToHeard() throws {
        var s = makeState()
        register(&s, w1, credit: 1)
        let j = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "h", flow: "f", namespace: "ns", runId: "h", input: nil),
                    client: client,
                    now: 0
                )
            ).first
        ).job
        // 10 s later, but the worker socket was last read empty at 1.5 s: w1 has been silent 1.5 s, under 2.
        _ = s.tick(now: 10, workersHeardAt: 1.5, eventsHeardAt: 1.5)
        #expect(s.counters.workersLost == 0 && s.counters.acksMissed == 0)
        // Read empty at 2.5 s with nothing from w1 since 0: now it is silent.
        let again = s.tick(now: 10.05, workersHeardAt: 2.5, eventsHeardAt: 2.5)
        #expect(s.counters.workersLost == 1)
        #expect(
            jobs(again).isEmpty && s.jobs.queues.values.first?.jobs.first?.id == j.job,
            "its job waits for another worker"
        )
    }

    @Test("an event batch is read in place: interleaved runs, a bad event among good ones, a run key used again")
    func batchInPlace() throws {
        // No result is kept (so the run id can be submitted again as a new run once it has finished).
        var s = makeState(resultRetentionBytes: 1)
        register(&s, w1, credit: 2)
        let dispatched = jobs(
            s.submitBatch(
                id: "b",
                [
                    SubmitRequest(id: "1", flow: "f", namespace: "ns", runId: "a", input: nil),
                    SubmitRequest(id: "2", flow: "f", namespace: "ns", runId: "ab", input: nil),
                ],
                client: client,
                now: 0
            )
        )
        let a = try #require(dispatched.first { $0.job.runId == "a" }).job
        let ab = try #require(dispatched.first { $0.job.runId == "ab" }).job
        var body: [UInt8] = []
        let order: [(JobAssignment, Int)] = [(a, 1), (ab, 1), (ab, 2), (a, 2), (a, 3)]
        for (index, (job, seq)) in order.enumerated() {
            EventBatch.append(event(job, seq: seq).1, to: &body)
            if index == 2 {
                // Valid packing, invalid envelope: rejected alone.
                EventBatch.append(RawEvent(topic: Array("ns/a/chunk".utf8), envelope: Array("{}".utf8)), to: &body)
            }
        }
        EventBatch.append(terminal(a, seq: 4), to: &body)
        let credential = Array(s.credentials.credential(for: w1).utf8)
        let ingested = s.ingest(first: EventBatch.marker, second: body, credential: credential, now: 0.1)
        #expect(ingested.rejected.count == 1 && s.counters.rejectedBadEvents == 1)
        let forwarded = ingested.forwarded.map {
            RawEvent(topic: Array(body[$0.topic]), envelope: Array(body[$0.envelope]))
        }
        #expect(forwarded == order.map { event($0.0, seq: $0.1).1 }, "every valid event, in order, terminal held")
        #expect(s.replay.events(runKey: "ns/a", attempt: 1, from: 1, to: nil) == [1, 2, 3].map { event(a, seq: $0).1 })
        #expect(s.replay.events(runKey: "ns/ab", attempt: 1, from: 2, to: 2) == [event(ab, seq: 2).1])
        // Run "a" ends; its result is not kept, so the same run id submitted again is a new job, and its events are not
        // taken for the old one's.
        let done = s.report(result(a, terminalSeq: 4), from: w1, now: 0.2)
        #expect(published(done) == [terminal(a, seq: 4)])
        _ = s.report(.ready(credit: 1), from: w1, now: 0.3)
        let again = try #require(
            jobs(
                s.submit(
                    SubmitRequest(id: "3", flow: "f", namespace: "ns", runId: "a", input: nil),
                    client: client,
                    now: 0.3
                )
            ).first
        ).job
        #expect(again.job != a.job)
        let (h, r) = event(again, seq: 1)
        #expect(s.event(h, raw: r, now: 0.4).0 == .forward)
        #expect(s.jobs[runKey: "ns/a"]?.lastSeq == 1, "the event counted for the new job")
        // A batch whose lengths run past its end is rejected whole.
        let truncated = Array(body.dropLast())
        let whole = s.ingest(first: EventBatch.marker, second: truncated, credential: credential, now: 0.5)
        #expect(whole.forwarded.isEmpty && whole.rejected.count == 1)
    }
}

extension CoordinatorState {
    /// An event from the worker that holds its run's current attempt (what every test here but the forgery
    /// tests sends).
    mutating func event(_ header: EnvelopeHeader, raw: RawEvent, now: Double) -> (EventDisposition, [Action]) {
        event(header, raw: raw, sender: jobs[runKey: header.runKey]?.holder ?? [], now: now)
    }
}

@Suite("Replay buffer")
struct ReplayBufferTests {
    func raw(_ run: String, _ seq: Int) -> RawEvent {
        RawEvent(topic: Array("ns/\(run)/chunk".utf8), envelope: [UInt8](repeating: 0x20, count: 100))
    }

    @Test("stays within its byte budget, evicting the oldest finished runs first")
    func evictsFinishedFirst() {
        let perEvent = 100 + 12 + ReplayBuffer.overheadPerEvent
        var b = ReplayBuffer(maxBytes: perEvent * 25, maxRuns: 100)
        for seq in 1...10 { b.append(runKey: "ns/old", attempt: 1, seq: seq, raw: raw("old", seq)) }
        b.finish(runKey: "ns/old")
        for seq in 1...10 { b.append(runKey: "ns/act", attempt: 1, seq: seq, raw: raw("act", seq)) }
        for seq in 1...10 { b.append(runKey: "ns/new", attempt: 1, seq: seq, raw: raw("new", seq)) }
        #expect(b.totalBytes <= perEvent * 25)
        #expect(b.runs["ns/old"] == nil, "the finished run went first")
        #expect(b.runs["ns/act"] != nil && b.runs["ns/new"] != nil)
        #expect(b.evictedRuns == 1)
        #expect(b.events(runKey: "ns/act", attempt: 1, from: 3, to: 5)?.count == 3)
    }

    @Test("an evicted run's log keeps no events, even where a caller still holds it; the run count is bounded")
    func evictionFreesAndCountsRuns() throws {
        var b = ReplayBuffer(maxBytes: 1 << 20, maxRuns: 3)
        var held: ReplayBuffer.RunLog?
        b.append(runKey: "ns/first", cached: &held, attempt: 1, seq: 1, raw: raw("first", 1))
        b.finish(runKey: "ns/first", cached: held)
        for run in ["a", "b", "c"] {
            var cached: ReplayBuffer.RunLog?
            for seq in 1...3 {
                b.append(runKey: "ns/\(run)", cached: &cached, attempt: 1, seq: seq, raw: raw(run, seq))
            }
        }
        #expect(b.runs.count == 3 && b.runs["ns/first"] == nil)
        #expect(held?.evicted == true && held?.packed.isEmpty == true && held?.entries.isEmpty == true)
        #expect(b.evictedRuns == 1 && b.evictedEvents == 1)
        #expect(b.runKeys(matching: try TopicPattern("ns")) == ["ns/a", "ns/b", "ns/c"])
        // Appending through the stale reference starts a new log for the key instead of reviving the old one.
        b.append(runKey: "ns/first", cached: &held, attempt: 2, seq: 1, raw: raw("first", 1))
        #expect(held?.evicted == false && b.runs["ns/first"] === held)
        #expect(b.runs.count == 3 && b.evictedRuns == 2, "no finished run left: the oldest unfinished one went")
        #expect(b.runs["ns/a"] == nil)
    }

    @Test("keeps each event's frames exactly; a run larger than the budget keeps its newest events")
    func framesAndTrim() {
        func raw(_ seq: Int) -> RawEvent {
            RawEvent(
                topic: Array("ns/big/chunk".utf8),
                envelope: Array("{\"seq\":\(seq),\"pad\":\"\(String(repeating: "x", count: seq))\"}".utf8)
            )
        }
        let perEvent = 40 + 12 + ReplayBuffer.overheadPerEvent
        var b = ReplayBuffer(maxBytes: perEvent * 10, maxRuns: 100)
        for seq in 1...30 { b.append(runKey: "ns/big", attempt: seq <= 25 ? 1 : 2, seq: seq, raw: raw(seq)) }
        #expect(b.totalBytes <= perEvent * 10)
        let kept = b.events(runKey: "ns/big", attempt: nil, from: 1, to: nil) ?? []
        #expect(!kept.isEmpty && kept.count < 30)
        #expect(kept == ((31 - kept.count)...30).map(raw), "the newest events, byte for byte, in order")
        #expect(b.events(runKey: "ns/big", attempt: 2, from: 1, to: nil) == (26...30).map(raw))
        #expect(b.evictedEvents == 30 - kept.count)
    }

    @Test("a new run's log reuses an evicted log's buffers and holds only its own events")
    func reusesEvictedBuffers() {
        func raw(_ run: Int, _ seq: Int) -> RawEvent {
            let pad = String(repeating: "y", count: run % 7)
            return RawEvent(
                topic: Array("ns/r\(run)/chunk".utf8),
                envelope: Array("{\"run\":\(run),\"seq\":\(seq),\"pad\":\"\(pad)\"}".utf8)
            )
        }
        // Room for about five runs of 13 events: every further run evicts the oldest finished one.
        var b = ReplayBuffer(maxBytes: 5 * 13 * (60 + ReplayBuffer.overheadPerEvent), maxRuns: 100)
        for run in 0..<200 {
            var cached: ReplayBuffer.RunLog?
            for seq in 1...13 {
                b.append(runKey: "ns/r\(run)", cached: &cached, attempt: 1, seq: seq, raw: raw(run, seq))
            }
            b.finish(runKey: "ns/r\(run)", cached: cached)
        }
        #expect(b.evictedRuns >= 190)
        #expect(b.buffersReused > 150, "new logs took over evicted logs' buffers (\(b.buffersReused) of 200)")
        for run in 0..<200 {
            guard let events = b.events(runKey: "ns/r\(run)", attempt: 1, from: 1, to: nil) else { continue }
            #expect(events == (1...13).map { raw(run, $0) }, "run \(run) holds exactly its own events")
        }
        #expect(b.runs.count >= 4)
    }
}

@Suite("Subscriber sequencing")
struct EventSequencerTests {
    func e(_ seq: Int, attempt: Int = 1, run: String = "r", type: EventType = .chunk) -> WireEvent {
        WireEvent(
            event: StreamEvent(
                namespace: "ns",
                runId: run,
                seq: UInt64(seq),
                type: type,
                node: "n",
                timestamp: 0,
                content: nil
            ),
            attempt: attempt
        )
    }

    @Test("a gap is repaired from replay before later events are delivered; duplicates dropped")
    func gapRepair() throws {
        var s = EventSequencer(repairPrefix: true)
        #expect(s.live(e(1)).deliver.map(\.event.seq) == [1])
        let (none, repair) = s.live(e(4))
        #expect(none.isEmpty)
        let range = try #require(repair)
        #expect(range.fromSeq == 2 && range.toSeq == 3 && range.attempt == 1)
        #expect(s.live(e(5)).deliver.isEmpty, "held while repairing")
        let out = s.replayed([e(3), e(2)], for: range)
        #expect(out.map(\.event.seq) == [2, 3, 4, 5])
        #expect(s.live(e(3)).deliver.isEmpty, "duplicate")
        #expect(s.statistics.gaps == 2 && s.statistics.repaired == 2 && s.statistics.lost == 0)
        #expect(s.statistics.duplicates == 1)
    }

    @Test("a newer attempt supersedes an older one; stale events are dropped")
    func attempts() {
        var s = EventSequencer(repairPrefix: true)
        _ = s.live(e(1))
        _ = s.live(e(2))
        #expect(s.live(e(1, attempt: 2)).deliver.count == 1)
        #expect(s.live(e(3, attempt: 1)).deliver.isEmpty)
        #expect(s.statistics.stale == 1)
        #expect(s.live(e(2, attempt: 2, type: .final)).deliver.count == 1)
        #expect(s.live(e(2, attempt: 2, type: .final)).deliver.isEmpty)
    }

    @Test("history then live: overlap is delivered once")
    func historyThenLive() {
        var s = EventSequencer(repairPrefix: true)
        #expect(s.history([e(1), e(2), e(3)]).count == 3)
        #expect(s.live(e(2)).deliver.isEmpty)
        #expect(s.live(e(3)).deliver.isEmpty)
        #expect(s.live(e(4)).deliver.map(\.event.seq) == [4])
    }

    @Test("an unrepairable gap is counted lost and the run goes on")
    func lost() throws {
        var s = EventSequencer(repairPrefix: true)
        _ = s.live(e(1))
        let range = try #require(s.live(e(5)).repair)
        #expect(s.repairFailed(range).map(\.event.seq) == [5])
        #expect(s.statistics.lost == 3)
    }
}

import FlowCore
import PropertyBased
import Testing

@testable import FlowPool

/// The job lifecycle against its invariants, over generated sequences of inputs: submits (some naming the same
/// run, some with deadlines), workers that join, grant credit, ack, publish, report results (some twice, some
/// late), leave or fall silent, cancels, and a clock. After every input: at most one terminal event and one
/// result per run, nothing published for a run after its terminal event, and the workers' books agree with the
/// jobs'. At the end a well-behaved worker joins: then every accepted run has ended with exactly one of each.
@Suite("Job lifecycle properties")
struct JobLifecyclePropertyTests {
    @Test("exactly one terminal event and one result per accepted run; nothing leaves finished")
    func lifecycleInvariants() async {
        await propertyCheck(count: 1_500, input: Gen.int(in: 0...0xFFFF).array(of: 1...160)) { steps in
            var model = LifecycleModel()
            for code in steps { model.step(code) }
            model.finish()
            #expect(model.problems.list.isEmpty, "\(model.problems.list.prefix(3))")
        }
    }
}

/// Drives a ``CoordinatorState`` with inputs decoded from integers and records what it did.
private struct LifecycleModel {
    var state = CoordinatorState(
        config: CoordinatorConfiguration(
            maxQueue: 16,
            maxAttempts: 3,
            heartbeatTimeout: .seconds(2),
            ackTimeout: .seconds(5),
            leaseTimeout: .seconds(30),
            terminalGrace: .seconds(1)
        ),
        instanceId: "p"
    )
    var now = 100.0
    let workerIds: [[UInt8]] = [Array("w0".utf8), Array("w1".utf8), Array("closer".utf8)]
    let client: [UInt8] = Array("c".utf8)
    /// Attempts each worker holds, as the commands it was sent say.
    var held: [[UInt8]: [JobAssignment]] = [:]
    /// The last seq each attempt published (key: job and attempt).
    var seqs: [String: Int] = [:]
    /// Per job id: whether its submit asked for the result, and what was seen of it.
    var accepted: [String: (reply: Bool, terminals: Int, results: Int)] = [:]
    /// Jobs whose terminal event was published.
    var ended: Set<String> = []
    var requests = 0
    let problems = ProblemLog()

    // MARK: Inputs

    mutating func step(_ code: Int) {
        let op = code % 13
        let a = (code >> 4) % 4
        let b = (code >> 6) % 4
        let w = workerIds[(code >> 8) % 2]
        switch op {
        case 0, 1:
            requests += 1
            let request = SubmitRequest(
                id: "q\(requests)",
                flow: "f",
                namespace: "ns",
                runId: a == 3 ? nil : "r\(a)",
                input: ["n": .int(requests)],
                reply: b != 0,
                maxAttempts: b == 3 ? 1 : nil,
                deadlineMilliseconds: (code >> 10) % 4 == 0 ? 2_000 : nil
            )
            wantsReply[request.id] = request.reply
            absorb(state.submit(request, client: client, now: now))
        case 2:
            let hello = WorkerHello(
                workerId: "\(w)",
                host: "h",
                pid: 1,
                concurrency: 1 + a,
                flows: ["f"],
                batchJobs: b > 1
            )
            absorb(state.report(.hello(hello), from: w, now: now))
        case 3:
            absorb(state.report(.ready(credit: 1 + a), from: w, now: now))
        case 4:
            if let job = pick(w, a) {
                absorb(state.report(.ack([JobAttempt(job: job.job, attempt: job.attempt)]), from: w, now: now))
            }
        case 5, 6:
            guard let job = pick(w, a) else { break }
            if b != 0 { held[w]?.removeAll { $0 == job } }
            let terminal = event(job, type: b == 1 ? .error : .final)
            let result = WorkerResult(
                job: job.job,
                attempt: job.attempt,
                status: b == 1 ? .failed : .completed,
                result: "ok",
                terminal: terminal
            )
            if op == 6 { publish(terminal, from: w) }
            absorb(state.report(.result(result), from: w, now: now))
        case 7:
            if let job = pick(w, a) { publish(event(job, type: b == 0 ? .final : .chunk), from: w) }
        case 8:
            absorb(state.report(.bye, from: w, now: now))
            held[w] = []
        case 9:
            now += [0.05, 1.5, 3, 31][a]
            for other in workerIds where other != w && b != 0 {
                absorb(state.report(.heartbeat(inFlight: 0, completed: 0, draining: false), from: other, now: now))
            }
            absorb(state.tick(now: now))
        case 10:
            absorb(state.workerUnreachable(w, now: now))
            held[w] = []
        case 11:
            requests += 1
            absorb(state.cancel(id: "x\(requests)", namespace: "ns", runId: "r\(a)", client: client, now: now))
        default:
            absorb(
                state.report(
                    .heartbeat(inFlight: held[w]?.count ?? 0, completed: 0, draining: b == 3),
                    from: w,
                    now: now
                )
            )
        }
        checkBooks()
    }

    /// Every other worker falls silent; one that does everything right finishes what is left.
    mutating func finish() {
        now += 10
        absorb(state.tick(now: now))
        let closer = workerIds[2]
        let hello = WorkerHello(workerId: "closer", host: "h", pid: 1, concurrency: 10_000, flows: ["f"])
        absorb(state.report(.hello(hello), from: closer, now: now))
        absorb(state.report(.ready(credit: 10_000), from: closer, now: now))
        for job in held[closer] ?? [] {
            absorb(state.report(.ack([JobAttempt(job: job.job, attempt: job.attempt)]), from: closer, now: now))
            let terminal = event(job, type: .final)
            publish(terminal, from: closer)
            absorb(
                state.report(
                    .result(
                        WorkerResult(
                            job: job.job,
                            attempt: job.attempt,
                            status: .completed,
                            result: "ok",
                            terminal: terminal
                        )
                    ),
                    from: closer,
                    now: now
                )
            )
        }
        now += 2
        absorb(state.report(.heartbeat(inFlight: 0, completed: 0, draining: false), from: closer, now: now))
        absorb(state.tick(now: now))
        check(state.activeJobs == 0, "\(state.activeJobs) runs still active at the end")
        for (job, seen) in accepted {
            check(seen.terminals == 1, "job \(job) ended with \(seen.terminals) terminal events")
            check(seen.results == (seen.reply ? 1 : 0), "job \(job) had \(seen.results) results pushed")
        }
    }

    // MARK: Outputs

    mutating func absorb(_ actions: [CoordinatorState.Action]) {
        for action in actions {
            switch action {
            case .command(let worker, .job(let job)):
                held[worker, default: []].append(job)
            case .command(let worker, .jobs(let jobs)):
                held[worker, default: []] += jobs
            case .command(let worker, .cancel(let job, let attempt, _)):
                held[worker]?.removeAll { $0.job == job && $0.attempt == attempt }
            case .command(let worker, .registered(_, let credential)):
                check(!credential.isEmpty, "worker \(worker) registered without a credential")
            case .reply(_, .accepted(let id, let job, let namespace, let runId)):
                check(accepted[job] == nil, "job \(job) accepted twice")
                accepted[job] = (reply: replyWanted(id), terminals: 0, results: 0)
                runKeys[job] = "\(namespace)/\(runId)"
            case .reply(_, .acceptedExisting(let id, let job, _, _)):
                // The newest submit that asks gets the result of an active run.
                if state.jobs[id: job] != nil, replyWanted(id) { accepted[job]?.reply = true }
            case .reply(_, .acceptedBatch(_, _)):
                break
            case .pushResult(_, let result):
                guard let seen = accepted[result.job] else {
                    problems.list.append("a result for unknown job \(result.job)")
                    continue
                }
                if ended.contains(result.job) {
                    // A later submit of the ended run gets its kept result (the first push precedes the terminal).
                    continue
                }
                _ = seen
                accepted[result.job]!.results += 1
                check(accepted[result.job]!.results == 1, "a second result for job \(result.job)")
            case .publish(let raw):
                published(raw)
            default:
                break
            }
        }
    }

    mutating func published(_ raw: RawEvent) {
        guard let header = try? EnvelopeHeader.scan(topic: raw.topic, envelope: raw.envelope), header.isTerminal else {
            return
        }
        // The run's job: the active one under the key, or the one that just ended.
        let job = accepted.keys.first { id in
            state.jobs[id: id] == nil && !ended.contains(id) && runKey(of: id) == header.runKey
        }
        guard let job else {
            problems.list.append("a terminal event of \(header.runKey) for no run that could end")
            return
        }
        ended.insert(job)
        accepted[job]!.terminals += 1
    }

    /// Forwarded events (returned for the caller to publish) count as published.
    mutating func publish(_ raw: RawEvent, from worker: [UInt8]) {
        let credential = Array(state.credentials.credential(for: worker).utf8)
        let ingested = state.ingest(first: raw.topic, second: raw.envelope, credential: credential, now: now)
        absorb(ingested.actions)
        for range in ingested.forwarded {
            published(RawEvent(topic: raw.topic, envelope: Array(raw.envelope[range.envelope])))
        }
    }

    // MARK: Invariants

    /// The workers' books agree with the jobs': slots leased, credit within concurrency; no finished job held.
    mutating func checkBooks() {
        var leased: [[UInt8]: Int] = [:]
        for job in state.jobs.all {
            check(!job.state.isFinished, "finished job \(job.id) still held")
            check(!ended.contains(job.id), "job \(job.id) is active after its terminal event")
            if let w = job.leasedTo { leased[w, default: 0] += 1 }
        }
        for (identity, entry) in state.workers.entries {
            check(
                entry.leased == (leased[identity] ?? 0),
                "worker \(entry.id) counts \(entry.leased) leased, jobs say \(leased[identity] ?? 0)"
            )
            // (A worker may announce a lower concurrency again while it holds more: it then gets no credit.)
            check(
                entry.credit <= max(0, entry.concurrency - entry.leased),
                "worker \(entry.id) has credit \(entry.credit) with \(entry.leased) of \(entry.concurrency) leased"
            )
        }
        check(state.jobs.inputBytes == state.jobs.all.reduce(0) { $0 + $1.inputBytes }, "input bytes drifted")
        for (job, seen) in accepted {
            check(
                seen.terminals <= 1 && seen.results <= 1,
                "job \(job): \(seen.terminals) terminals, \(seen.results) results"
            )
            if seen.results == 1 { check(seen.terminals == 1, "job \(job) has a result before its terminal event") }
        }
    }

    // MARK: Helpers

    func pick(_ worker: [UInt8], _ index: Int) -> JobAssignment? {
        guard let list = held[worker], !list.isEmpty else { return nil }
        return list[index % list.count]
    }

    mutating func event(_ job: JobAssignment, type: EventType) -> RawEvent {
        let key = "\(job.job)#\(job.attempt)"
        let seq = (seqs[key] ?? 0) + 1
        seqs[key] = seq
        let wire = WireEvent(
            event: StreamEvent(
                namespace: job.namespace,
                runId: job.runId,
                seq: UInt64(seq),
                type: type,
                node: "n",
                timestamp: 1,
                content: "x"
            ),
            attempt: job.attempt
        )
        return RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
    }

    func runKey(of job: String) -> String? { runKeys[job] }

    /// Run keys by job id, as accepted.
    var runKeys: [String: String] = [:]
    /// Whether each submit asked for its result, by request id.
    var wantsReply: [String: Bool] = [:]

    func replyWanted(_ id: String) -> Bool { wantsReply[id] ?? false }

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { problems.list.append(message()) }
    }
}

/// What the invariants found wrong (a class, so that checks read the state while they record).
private final class ProblemLog {
    var list: [String] = []
}

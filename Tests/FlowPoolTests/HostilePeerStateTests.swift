import FlowCore
import Testing

@testable import FlowPool

/// What the coordinator's state machine does with well-formed messages from peers that do not hold what they
/// claim: forged events and results, credit beyond concurrency, integers at the edge of their range.
@Suite("Coordinator state against hostile peers")
struct HostilePeerStateTests {
    let helper = CoordinatorStateTests()
    var w1: [UInt8] { helper.w1 }
    var w2: [UInt8] { helper.w2 }

    func submit(_ s: inout CoordinatorState, _ run: String, now: Double = 0) -> [CoordinatorState.Action] {
        s.submit(
            SubmitRequest(id: run, flow: "f", namespace: "ns", runId: run, input: nil),
            client: helper.client,
            now: now
        )
    }

    func hello(_ s: inout CoordinatorState, _ w: [UInt8], concurrency: Int) {
        let hello = WorkerHello(
            workerId: String(decoding: w, as: UTF8.self),
            host: "h",
            pid: 1,
            concurrency: concurrency,
            flows: []
        )
        _ = s.report(.hello(hello), from: w, now: 0)
    }

    @Test("events, a terminal event and a result from a worker that does not hold the run are dropped as forged")
    func forgedEventsAndResults() throws {
        var s = helper.makeState()
        helper.register(&s, w1, credit: 1)
        helper.register(&s, w2, credit: 1)
        let job = try #require(helper.jobs(submit(&s, "r")).first)
        let holder = job.worker
        let other = holder == w1 ? w2 : w1
        // The other worker writes a progress event and a final event into the run, with the right attempt.
        let (h, progress) = helper.event(job.job, seq: 1)
        #expect(s.event(h, raw: progress, sender: other, now: 0.1).0 == .drop)
        let forgedFinal = helper.terminal(job.job, seq: 2)
        let fh = try EnvelopeHeader.scan(topic: forgedFinal.topic, envelope: forgedFinal.envelope)
        #expect(s.event(fh, raw: forgedFinal, sender: other, now: 0.1).0 == .drop)
        #expect(
            s.jobs[runKey: "ns/r"].map { if case .running(let l) = $0.state { l.busTerminal == nil } else { true } }
                ?? false,
            "a forged terminal event is not held as the run's"
        )
        #expect(s.replay.events(runKey: "ns/r", attempt: nil, from: 1, to: nil) ?? [] == [])
        // And reports the run's result.
        #expect(
            !s.report(helper.result(job.job), from: other, now: 0.2).contains { action in
                if case .pushResult = action { return true } else { return false }
            }
        )
        // The ack of another worker does not count either.
        _ = s.report(.ack([JobAttempt(job: job.job.job, attempt: 1)]), from: other, now: 0.2)
        #expect(s.counters.rejectedForged == 4)
        #expect(s.activeJobs == 1 && s.counters.jobsCompleted == 0)
        // The holder's own events and result finish the run, with its terminal event.
        #expect(s.event(h, raw: progress, sender: holder, now: 0.3).0 == .forward)
        let real = helper.terminal(job.job, seq: 2)
        let rh = try EnvelopeHeader.scan(topic: real.topic, envelope: real.envelope)
        #expect(s.event(rh, raw: real, sender: holder, now: 0.3).0 == .hold)
        let done = s.report(helper.result(job.job), from: holder, now: 0.4)
        #expect(helper.published(done) == [real])
        #expect(s.counters.jobsCompleted == 1 && s.counters.rejectedForged == 4)
        #expect(s.replay.events(runKey: "ns/r", attempt: 1, from: 1, to: nil) == [progress, real])
    }

    @Test("events without a credential the coordinator issued are dropped as forged, each one counted")
    func credentialsOnTheBus() throws {
        var s = helper.makeState()
        helper.register(&s, w1, credit: 2)
        let job = try #require(helper.jobs(submit(&s, "r")).first).job
        var body: [UInt8] = []
        for seq in 1...3 { EventBatch.append(helper.event(job, seq: seq).1, to: &body) }
        let credential = s.credentials.credential(for: w1)
        // None at all, a made-up one, and w1's identity with another's tag.
        let w2Tag = s.credentials.credential(for: w2).split(separator: ".")[1]
        for bad in [nil, Array("77317a.0011".utf8), Array((credential.split(separator: ".")[0] + "." + w2Tag).utf8)] {
            let ingested = s.ingest(first: EventBatch.marker, second: body, credential: bad, now: 0.1)
            #expect(ingested.forwarded.isEmpty && ingested.forged == 3)
        }
        #expect(s.counters.rejectedForged == 9 && s.jobs[runKey: "ns/r"]?.lastSeq == 0)
        let ingested = s.ingest(first: EventBatch.marker, second: body, credential: Array(credential.utf8), now: 0.2)
        #expect(ingested.forwarded.count == 3 && ingested.forged == 0)
        // Another coordinator's credential for the same identity is not this one's.
        var other = CoordinatorState(config: s.config, instanceId: "u")
        #expect(other.credentials.identity(Array(credential.utf8)) == nil)
        #expect(s.credentials.identity(Array(credential.utf8)) == w1)
    }

    @Test("credit is capped by the concurrency a worker announced, less the jobs it holds")
    func creditCap() throws {
        var s = helper.makeState()
        hello(&s, w1, concurrency: 2)
        var dispatched = helper.jobs(s.report(.ready(credit: 100_000), from: w1, now: 0))
        #expect(s.workers[w1]?.credit == 2 && s.counters.creditCapped == 99_998)
        for i in 0..<5 { dispatched += helper.jobs(submit(&s, "r\(i)")) }
        #expect(dispatched.count == 2, "no job beyond its concurrency")
        // More credit while it holds both: nothing more.
        #expect(helper.jobs(s.report(.ready(credit: PoolProtocol.maxInteger), from: w1, now: 0.1)).isEmpty)
        #expect(s.workers[w1]?.credit == 0 && s.workers[w1]?.leased == 2)
        // A result frees a slot: one more job, on the credit that follows it.
        _ = s.report(helper.result(dispatched[0].job), from: w1, now: 0.2)
        #expect(s.workers[w1]?.leased == 1)
        let next = helper.jobs(s.report(.ready(credit: 1), from: w1, now: 0.2))
        #expect(next.count == 1 && s.workers[w1]?.leased == 2)
        // A second hello changes nothing of what it holds.
        hello(&s, w1, concurrency: 2)
        #expect(helper.jobs(s.report(.ready(credit: 5), from: w1, now: 0.3)).isEmpty)
    }

    @Test("an event at the largest seq a peer may send, then lost attempts: the coordinator's error event follows it")
    func largestSeq() throws {
        var s = helper.makeState(maxAttempts: 1)
        helper.register(&s, w1, credit: 1)
        let job = try #require(helper.jobs(submit(&s, "r")).first).job
        let (h, r) = helper.event(job, seq: PoolProtocol.maxWorkerSeq)
        #expect(s.event(h, raw: r, sender: w1, now: 0.1).0 == .forward)
        let events = helper.published(s.tick(now: 5))
        let e = try #require(try? events.first?.decode())
        #expect(e.event.type == .error && e.event.seq == UInt64(PoolProtocol.maxInteger))
        #expect(s.counters.jobsFailed == 1)
    }

    @Test(
        "integers beyond their range, and names longer than kept, are refused where they are decoded",
        arguments: [
            #"{"v":1,"op":"ready","credit":9007199254740992}"#,
            #"{"v":1,"op":"ready","credit":9223372036854775807}"#,
            #"{"v":1,"op":"ready","credit":1e300}"#,
            #"{"v":1,"op":"hello","worker":"w","concurrency":10001}"#,
            #"{"v":1,"op":"heartbeat","in_flight":9223372036854775807,"completed":0}"#,
            #"{"v":1,"op":"ack","job":"j","attempt":9007199254740992}"#,
            #"{"v":1,"op":"stalled","worker":"w","busy_ms":-1}"#,
            #"{"v":1,"op":"hello","worker":"","concurrency":1}"#,
            "{\"v\":1,\"op\":\"hello\",\"worker\":\"w\",\"host\":\"\(String(repeating: "h", count: 257))\",\"concurrency\":1}",
        ]
    )
    func workerIntegers(text: String) {
        #expect(throws: JSONWireError.self) { try WorkerReport.decode([Array(text.utf8)]) }
    }

    @Test(
        "control integers beyond their range are refused",
        arguments: [
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","max_attempts":101}"#,
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","max_attempts":9223372036854775807}"#,
            #"{"v":1,"op":"replay","id":"r","ranges":[{"ns":"n","run":"r","from_seq":1,"to_seq":9223372036854775807}]}"#,
        ]
    )
    func controlIntegers(text: String) {
        #expect(throws: JSONWireError.self) { try ControlRequest.decode(Array(text.utf8)) }
    }

    func envelope(attempt: String, seq: String) -> [UInt8] {
        Array(
            #"{"v":1,"ns":"ns","run":"r","attempt":\#(attempt),"seq":\#(seq),"type":"chunk","node":"n","ts":1,"content":1}"#
                .utf8
        )
    }

    @Test("an envelope's seq or attempt beyond 2^53 − 1 is refused by both readers; the coordinator's stops one below")
    func envelopeIntegers() {
        let topic = Array("ns/r/chunk".utf8)
        for (attempt, seq) in [("1", "9007199254740992"), ("9223372036854775807", "1"), ("1", "99999999999999999")] {
            let e = envelope(attempt: attempt, seq: seq)
            #expect(throws: JSONWireError.self) { try EnvelopeHeader.scan(topic: topic, envelope: e) }
            #expect(throws: JSONWireError.self) { try RawEvent(topic: topic, envelope: e).decode() }
        }
        // The coordinator's own error event may follow a worker's last: its reader takes one less than clients'.
        let largest = envelope(attempt: "1", seq: "9007199254740991")
        #expect(throws: JSONWireError.self) { try EnvelopeHeader.scan(topic: topic, envelope: largest) }
        #expect((try? RawEvent(topic: topic, envelope: largest).decode())?.event.seq == (1 << 53) - 1)
        let below = envelope(attempt: "1", seq: "9007199254740990")
        #expect((try? EnvelopeHeader.scan(topic: topic, envelope: below))?.seq == (1 << 53) - 2)
    }
}

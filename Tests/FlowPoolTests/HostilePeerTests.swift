import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

/// Well-formed but hostile messages from peers that reach the pool, against a real coordinator and worker.
@Suite("Pool against hostile peers", .serialized, .timeLimit(.minutes(3)))
struct HostilePeerTests {
    /// The frames of one event, as a worker publishes it.
    static func event(
        _ ns: String,
        _ run: String,
        attempt: Int,
        seq: Int,
        type: EventType,
        content: JSONValue
    )
        -> RawEvent
    {
        let wire = WireEvent(
            event: StreamEvent(
                namespace: ns,
                runId: run,
                seq: UInt64(seq),
                type: type,
                node: "forger",
                timestamp: 1,
                content: content
            ),
            attempt: attempt
        )
        return RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
    }

    /// Resident memory of a process, in bytes.
    static func residentBytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kib = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kib << 10
        }
        return 0
    }

    @Test(
        "a peer that claims huge credit gets no job beyond its concurrency; its forged results and events reach no client, subscriber or replay"
    )
    func forgingWorker() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            let workersEndpoint = try #require(pool.endpoints["workers"]?.stringValue)
            let eventsIn = try #require(pool.endpoints["events_in"]?.stringValue)
            try await PoolClient.withConnection(to: pool.control) { client in
                let victims = try await client.events(matching: "victim", batched: false)
                let collector = EventCollector()
                let collecting = Task { await victims.collect(into: collector) }
                defer { collecting.cancel() }

                let context = try Context()
                try await withSocketLoop(context: context, name: "fp-hostile", logger: Logger(label: "hostile")) {
                    loop in
                    try await ReceivedCommands.withFakeWorker(
                        identity: "hostile",
                        endpoint: workersEndpoint,
                        context: context,
                        loop: loop
                    ) { worker, received in
                        func jobs() -> [JobAssignment] {
                            received.list.withLock { list in
                                list.flatMap { command -> [JobAssignment] in
                                    switch command {
                                    case .job(let j): [j]
                                    case .jobs(let js): js
                                    default: []
                                    }
                                }
                            }
                        }

                        // It announces a concurrency of 2, then grants Int.max credit (refused where it is read: the
                        // coordinator lives on) and 2^53 − 1 (capped at its concurrency).
                        let hello = WorkerHello(
                            workerId: "hostile",
                            host: "h",
                            pid: 1,
                            concurrency: 2,
                            flows: ["sleep"]
                        )
                        try await loop.send(WorkerReport.hello(hello).frames, on: worker)
                        try await loop.send(
                            [Array(#"{"v":1,"op":"ready","credit":9223372036854775807}"#.utf8)],
                            on: worker
                        )
                        try await loop.send(WorkerReport.ready(credit: PoolProtocol.maxInteger).frames, on: worker)
                        try await pool.until(seconds: 10, "registered") {
                            received.list.withLock { $0.contains { if case .registered = $0 { true } else { false } } }
                        }
                        let credential = try #require(
                            received.list.withLock { list in
                                list.lazy.compactMap { if case .registered(_, let c) = $0 { c } else { nil } }.first
                            }
                        )

                        // Its own two runs, then ten others that wait for a worker with credit.
                        var own: [PoolClient.Submission] = []
                        for run in ["h0", "h1"] {
                            own.append(
                                try await client.submit(
                                    "sleep",
                                    namespace: "hostile",
                                    input: ["ms": 10],
                                    runId: run,
                                    maxAttempts: 1
                                )
                            )
                        }
                        var submitted: [PoolClient.Submission] = []
                        for i in 0..<10 {
                            submitted.append(
                                try await client.submit(
                                    "sleep",
                                    namespace: "victim",
                                    input: ["ms": 2000],
                                    runId: "v\(i)"
                                )
                            )
                        }
                        try await pool.until(seconds: 10, "two jobs for the hostile peer, ten queued") {
                            let s = try await pool.status()
                            return jobs().count == 2 && s["queue_depth"]?.intValue == 10
                        }
                        // It acknowledges them and stays alive, as a worker would, while it forges.
                        let mine = jobs().map { JobAttempt(job: $0.job, attempt: $0.attempt) }
                        try await loop.send(WorkerReport.ack(mine).frames, on: worker)
                        let heartbeats = Task {
                            while !Task.isCancelled {
                                let beat = WorkerReport.heartbeat(inFlight: 2, completed: 0, draining: false)
                                try? await loop.send(beat.frames, on: worker)
                                try? await Task.sleep(for: .milliseconds(200))
                            }
                        }
                        defer { heartbeats.cancel() }
                        #expect(Set(jobs().map(\.runId)) == ["h0", "h1"])
                        let creditCapped = try await pool.counter("credit_capped")
                        #expect(creditCapped >= PoolProtocol.maxInteger - 2)

                        // A real worker takes the ten.
                        _ = try pool.startWorker()
                        try await pool.until(seconds: 20, "the ten runs running") {
                            try await pool.status()["in_flight"]?.intValue == 12
                        }

                        // Forged events for the running runs: with the hostile peer's own credential, with none, and
                        // with a made-up one; each a progress and a final.
                        let publisher = try Socket(context, .xpub)
                        try publisher.connect(eventsIn)
                        let (pub, subscriptions) = try loop.addStream(publisher, maxFrames: 2)
                        var subscribed = subscriptions.makeAsyncIterator()
                        _ = await subscribed.next()
                        var batch: [UInt8] = []
                        for i in 0..<10 {
                            EventBatch.append(
                                Self.event(
                                    "victim",
                                    "v\(i)",
                                    attempt: 1,
                                    seq: 1,
                                    type: .progress,
                                    content: ["forged": true]
                                ),
                                to: &batch
                            )
                            EventBatch.append(
                                Self.event("victim", "v\(i)", attempt: 1, seq: 2, type: .final, content: "forged"),
                                to: &batch
                            )
                        }
                        let credentials: [[UInt8]?] = [Array(credential.utf8), nil, Array("686f7374696c65.00".utf8)]
                        for c in credentials {
                            try await loop.send([EventBatch.marker, batch] + (c.map { [$0] } ?? []), on: pub)
                        }
                        // Forged results and acks for the same runs, by job id.
                        for s in submitted {
                            let final = Self.event(
                                "victim",
                                s.runId,
                                attempt: 1,
                                seq: 2,
                                type: .final,
                                content: "forged"
                            )
                            let result = WorkerResult(
                                job: s.job,
                                attempt: 1,
                                status: .completed,
                                result: "forged",
                                terminal: final
                            )
                            try await loop.send(WorkerReport.result(result).frames, on: worker)
                            try await loop.send(
                                WorkerReport.ack([JobAttempt(job: s.job, attempt: 1)]).frames,
                                on: worker
                            )
                        }
                        // And a stalled report that names the real worker without its credential.
                        let workersList = try await pool.status()["workers"]?.arrayValue ?? []
                        let realId = try #require(workersList.first { $0["id"] != "hostile" }?["id"]?.stringValue)
                        let stalled = WorkerReport.stalled(worker: realId, busyMilliseconds: 1, credential: "00.00")
                        try await loop.send(stalled.frames, on: worker)

                        // Its own runs: an event at the largest seq a worker may send (accepted: it holds the run),
                        // one at Int.max (refused), then it leaves. Both runs had one attempt: they fail, and the
                        // coordinator's error event follows the largest seq.
                        var own0: [UInt8] = []
                        EventBatch.append(
                            Self.event(
                                "hostile",
                                "h0",
                                attempt: 1,
                                seq: PoolProtocol.maxWorkerSeq,
                                type: .progress,
                                content: 1
                            ),
                            to: &own0
                        )
                        let huge = Array(
                            #"{"v":1,"ns":"hostile","run":"h1","attempt":1,"seq":9223372036854775807,"type":"progress","node":"n","ts":1,"content":1}"#
                                .utf8
                        )
                        EventBatch.append(RawEvent(topic: Array("hostile/h1/progress".utf8), envelope: huge), to: &own0)
                        try await loop.send([EventBatch.marker, own0, Array(credential.utf8)], on: pub)
                        try await pool.until(seconds: 10, "its own first event forwarded") {
                            (try await client.replay(pattern: "hostile/h0")).count == 1
                        }
                        heartbeats.cancel()
                        try await loop.send(WorkerReport.bye.frames, on: worker)

                        for s in own {
                            let r = try await client.result(of: s)
                            #expect(r.status == .failed && r.errorCode == .attemptsExhausted)
                        }
                        let h0 = try await client.replay(pattern: "hostile/h0")
                        #expect(
                            h0.map(\.event.seq) == [UInt64(PoolProtocol.maxWorkerSeq), UInt64(PoolProtocol.maxInteger)]
                        )
                        #expect(h0.last?.event.type == .error)
                        let content = h0.last?.event.content
                        #expect(content?["code"] == "attempts_exhausted" && content?["node"] == "flowpool")
                        #expect(content?["message"]?.stringValue?.isEmpty == false)

                        for s in submitted {
                            let r = try await client.result(of: s)
                            #expect(r.status == .completed && r.result == ["slept_ms": 2000], "\(s.runId): \(r)")
                        }
                        #expect(jobs().count == 2, "never a job beyond its concurrency")
                    }
                }

                // Nobody saw a forged event: not the subscriber, not replay.
                try await pool.until(seconds: 20, "a terminal event per run") { collector.terminals >= 10 }
                for (run, events) in collector.byRun {
                    #expect(events.allSatisfy { $0.event.node != "forger" }, "\(run)")
                    #expect(events.filter { $0.event.type.isTerminal }.count == 1, "\(run)")
                }
                let replayed = try await client.replay(pattern: "victim")
                #expect(!replayed.isEmpty && replayed.allSatisfy { $0.event.node != "forger" })
                // 20 forged events with a credential that does not hold the runs, 40 without a valid one, 10
                // results, 10 acks, 1 stalled report.
                #expect(try await pool.counter("rejected_forged") >= 81)
                #expect(try await pool.counter("rejected_bad_events") >= 1)
                #expect(pool.coordinator.isRunning)
                let after = try await client.run("sleep", namespace: "victim", input: ["ms": 1])
                #expect(after == ["slept_ms": 1])
            }
        }
    }

    @Test("replays that are never read and long subscriptions leave the coordinator's memory bounded")
    func unreadRepliesAndSubscriptions() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            let controlEndpoint = try #require(pool.endpoints["control"]?.stringValue)
            let eventsOut = try #require(pool.endpoints["events_out"]?.stringValue)
            try await PoolClient.withConnection(to: pool.control) { client in
                // History to replay: 3,000 agent4 runs of 13 events.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<3_000 {
                        if i >= 64 { try await group.next() }
                        group.addTask {
                            let question = JSONValue.string("q\(i)")
                            _ = try await client.run("agent4", namespace: "history", input: ["question": question])
                        }
                    }
                    try await group.waitForAll()
                }
                let replayBytes = try #require(try await pool.status()["replay"]?["bytes"]?.intValue)
                let before = Self.residentBytes(pool.coordinator.pid)

                let context = try Context()
                // 40 peers ask for everything and never read (one small message each: the send cannot block).
                var peers: [Socket] = []
                for i in 0..<40 {
                    let peer = try Socket(context, .dealer)
                    try peer.set(.receiveHighWaterMark(1))
                    try peer.connect(controlEndpoint)
                    #expect(
                        try peer.trySend(multipart: [Array(#"{"v":1,"op":"replay","id":"r\#(i)","pattern":"*"}"#.utf8)])
                    )
                    peers.append(peer)
                }
                defer { for peer in peers { peer.close() } }
                try await pool.until(seconds: 30, "40 replays started") {
                    try await pool.counter("replay_requests") >= 40
                }
                // Rounds for the coordinator to push what the peers' pipes take.
                for _ in 0..<20 { _ = try await pool.status() }
                let afterReplays = Self.residentBytes(pool.coordinator.pid)
                let waiting = try #require(try await pool.status()["replays_in_progress_bytes"]?.intValue)
                #expect(waiting > 0 && waiting < 40 << 20, "the unread replays are still in progress, bounded")

                // Subscriptions longer than any topic drop the sender's connection; 4,000 of 400 bytes are held.
                let disconnects = try await pool.status()["peer_disconnects"]?.intValue ?? 0
                let long = try Socket(context, .xsub)
                defer { long.close() }
                try long.connect(eventsOut)
                for i in 0..<100 {
                    let topic =
                        Array("long/".utf8) + [UInt8](repeating: UInt8(ascii: "a") + UInt8(i % 26), count: 4_090)
                    _ = try long.trySend(multipart: [[1] + topic])
                }
                try await pool.until(seconds: 20, "the long subscriber dropped") {
                    (try await pool.status()["peer_disconnects"]?.intValue ?? 0) > disconnects
                }
                long.close()
                let many = try Socket(context, .xsub)
                defer { many.close() }
                try many.connect(eventsOut)
                for chunk in 0..<8 {
                    for i in (chunk * 500)..<((chunk + 1) * 500) {
                        let topic = Array("many-\(i)/".utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 390)
                        #expect(try many.trySend(multipart: [[1] + topic]))
                    }
                    try await pool.until(seconds: 20, "\((chunk + 1) * 500) subscriptions held") {
                        (try await pool.status()["subscriptions"]?.intValue ?? 0) >= (chunk + 1) * 500
                    }
                }
                let afterSubscriptions = Self.residentBytes(pool.coordinator.pid)
                let replaysGrowth = afterReplays - before
                let subscriptionsGrowth = afterSubscriptions - afterReplays
                print(
                    "coordinator resident: \(before >> 20) MiB with \(replayBytes >> 20) MiB of replay; "
                        + "+\(replaysGrowth >> 20) MiB after 40 unread replays of everything, "
                        + "+\(subscriptionsGrowth >> 20) MiB after 4,000 subscriptions of 400 bytes"
                )
                // An unread replay holds its pipe (16 batches of at most 64 KiB) and one batch more.
                #expect(replaysGrowth < 40 * (3 << 20))
                #expect(subscriptionsGrowth < 200 << 20)
                // Still serving; a peer that reads gets its replies, whatever the others do.
                let answer = try await client.run("agent4", namespace: "after", input: ["question": "q"])
                #expect(answer == .string(Agent4.expectedAnswer))
                let replayed = try await client.replay(pattern: "history")
                #expect(replayed.count == 3_000 * 13)
            }
        }
    }

    @Test(
        "more distinct subscriptions than the bound drop every subscriber connection; subscribers come back and miss nothing"
    )
    func subscriptionBound() async throws {
        try await PoolHarness.with(workers: 1, coordinatorArguments: ["--max-subscriptions", "1000"]) { pool in
            let eventsOut = try #require(pool.endpoints["events_out"]?.stringValue)
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "watched")
                let collector = EventCollector()
                let collecting = Task { await events.collect(into: collector) }
                defer { collecting.cancel() }
                let context = try Context()
                let many = try Socket(context, .xsub)
                defer { many.close() }
                // Once dropped it stays away (its subscriptions would trip the bound again).
                try many.set(.reconnectInterval(600_000))
                try many.connect(eventsOut)
                for i in 0..<1_100 {
                    let topic = Array("many-\(i)/".utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 300)
                    #expect(try many.trySend(multipart: [[1] + topic]))
                }
                try await pool.until(seconds: 20, "every subscriber connection dropped") {
                    (try await pool.status()["subscription_resets"]?.intValue ?? 0) >= 1
                }
                many.close()
                // The watching subscriber reconnects by itself (a SUB socket subscribes again on reconnecting): one
                // run at a time until one reaches it, then every run's events reach it.
                var probes = 0
                try await pool.until(seconds: 30, "the subscriber back") {
                    probes += 1
                    let run = "probe-\(probes)"
                    _ = try await client.run("agent4", namespace: "watched", input: ["question": "p"], runId: run)
                    try? await Task.sleep(for: .milliseconds(100))
                    return collector.byRun["watched/\(run)"]?.count == 13
                }
                let resets = try await pool.status()["subscription_resets"]?.intValue ?? 0
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<50 {
                        group.addTask {
                            let question = JSONValue.string("q\(i)")
                            _ = try await client.run(
                                "agent4",
                                namespace: "watched",
                                input: ["question": question],
                                runId: "run-\(i)"
                            )
                        }
                    }
                    try await group.waitForAll()
                }
                let runs = (0..<50).map { "watched/run-\($0)" }
                try await pool.until(seconds: 30, "every run's events") {
                    runs.allSatisfy { collector.byRun[$0]?.last?.event.type.isTerminal == true }
                }
                for run in runs {
                    #expect(collector.byRun[run]?.map(\.event.seq) == Array(1...13), "\(run)")
                }
                #expect(try await pool.status()["subscription_resets"]?.intValue == resets)
                #expect((try await pool.status()["subscriptions"]?.intValue ?? .max) < 1_000)
            }
        }
    }

    @Test("a flood of bad messages costs a few log lines, not one per message")
    func logFlood() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            let workersEndpoint = try #require(pool.endpoints["workers"]?.stringValue)
            let context = try Context()
            try await withSocketLoop(context: context, name: "fp-flood", logger: Logger(label: "flood")) { loop in
                let socket = try Socket(context, .dealer)
                try socket.connect(workersEndpoint)
                let (worker, _) = try loop.addStream(socket, maxFrames: 8)
                for _ in 0..<2_000 {
                    try await loop.send(Array(repeating: Array("{}".utf8), count: 600), on: worker)
                    try await loop.send([Array(#"{"v":1,"op":"teleport"}"#.utf8)], on: worker)
                }
                try await pool.until(seconds: 60, "every message counted") {
                    let c = try await pool.status()["counters"] ?? [:]
                    return (c["rejected_too_many_frames"]?.intValue ?? 0) >= 2_000
                        && (c["rejected_unknown_op"]?.intValue ?? 0) >= 2_000
                }
            }
            let lines = pool.coordinator.stderr.split(separator: "\n")
            let warnings = lines.filter { $0.contains("rejected") || $0.contains("discarded") }
            #expect(warnings.count <= 40, "\(warnings.count) lines for 4,000 rejections")
        }
    }
}

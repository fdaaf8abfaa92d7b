import FlowCore
import FlowPool
import Foundation
import Testing

/// Real `flowpool` processes on loopback: the pool's guarantees end to end.
@Suite("Pool end to end", .serialized, .timeLimit(.minutes(2)))
struct PoolEndToEndTests {
    @Test("every run ends with one result and one terminal event when a worker is SIGKILLed mid-load")
    func workerKilledMidLoad() async throws {
        try await PoolHarness.with(workers: 2, workerArguments: ["--concurrency", "8"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "killtest")
                let collector = EventCollector()
                async let collecting: Void = events.collect(into: collector)
                let runs = 300
                var killed = false
                let results = try await withThrowingTaskGroup(of: RunResult.self) { group in
                    for i in 0..<runs {
                        group.addTask {
                            let s = try await client.submit(
                                "sleep",
                                namespace: "killtest",
                                input: ["ms": 200, "n": .int(i)],
                                runId: "run-\(i)"
                            )
                            return try await client.result(of: s)
                        }
                    }
                    var results: [RunResult] = []
                    for try await r in group {
                        results.append(r)
                        if !killed && results.count >= 60 {
                            // 240 runs of 200 ms are left for 16 slots: each worker holds runs now.
                            killed = true
                            pool.workers[0].signal(SIGKILL)
                        }
                    }
                    return results
                }
                #expect(results.count == runs)
                #expect(Set(results.map(\.runId)).count == runs, "exactly one result per run")
                #expect(results.allSatisfy { $0.status == .completed })
                try await pool.until(seconds: 20, "one terminal event per run") { collector.terminals >= runs }
                events.close()
                await collecting
                let byRun = collector.byRun
                #expect(byRun.count == runs)
                for (_, runEvents) in byRun { expectCompleteRun(runEvents) }
                let status = try await pool.status()
                if events.statistics.lost > 0 {
                    print("kill test diagnostics: \(events.statistics) \(status["counters"] ?? nil)")
                    for (run, runEvents) in byRun
                    where runEvents.last?.event.seq
                        != UInt64(runEvents.filter { $0.attempt == runEvents.last?.attempt }.count)
                    {
                        print(run, runEvents.map { "\($0.attempt).\($0.event.seq).\($0.event.type)" })
                    }
                }
                #expect(killed)
                #expect(status["counters"]?["workers_lost"]?.intValue ?? 0 >= 1)
                #expect(status["counters"]?["jobs_redispatched"]?.intValue ?? 0 >= 1)
                #expect(status["counters"]?["jobs_completed"]?.intValue == runs)
                #expect(status["counters"]?["duplicate_results"] != nil)
                #expect(events.statistics.lost == 0)
            }
        }
    }

    @Test("SIGTERM drains a worker: it finishes what it holds, takes nothing new and exits 0")
    func workerDrains() async throws {
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: ["--heartbeat-timeout-ms", "5000"],
            workerArguments: ["--concurrency", "4"]
        ) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                var submissions: [PoolClient.Submission] = []
                for i in 0..<8 {
                    submissions.append(
                        try await client.submit("sleep", namespace: "drain", input: ["ms": 3000, "n": .int(i)])
                    )
                }
                // The first four, still running (a slow status must not see the next four instead).
                try await pool.until(seconds: 10, "the first 4 runs in flight") {
                    let status = try await pool.status()
                    return status["in_flight"]?.intValue == 4 && status["counters"]?["jobs_completed"]?.intValue == 0
                }
                let worker = pool.workers[0]
                worker.signal(SIGTERM)
                let exit = await worker.waitForExit(seconds: 15)
                #expect(exit == 0, "worker exit status \(String(describing: exit)): \(worker.stderr)")
                let status = try await pool.status()
                #expect(status["counters"]?["jobs_completed"]?.intValue == 4, "held runs finished")
                #expect(status["queue_depth"]?.intValue == 4, "nothing new was taken")
                #expect(status["counters"]?["jobs_redispatched"]?.intValue == 0)
                _ = try pool.startWorker(["--concurrency", "4"])
                for s in submissions {
                    let r = try await client.result(of: s)
                    #expect(r.status == .completed && r.attempts == 1)
                }
            }
        }
    }

    @Test("SIGTERM drains the coordinator: it refuses new runs, finishes accepted ones and exits 0")
    func coordinatorDrains() async throws {
        try await PoolHarness.with(workers: 1, workerArguments: ["--concurrency", "4"]) { pool in
            let client = try await PoolClient.connect(to: pool.control)
            var submissions: [PoolClient.Submission] = []
            // Long enough that the coordinator still drains when the late submit comes, however loaded the host.
            for i in 0..<4 {
                submissions.append(
                    try await client.submit("sleep", namespace: "cdrain", input: ["ms": 3_000, "n": .int(i)])
                )
            }
            pool.coordinator.signal(SIGTERM)
            try await pool.until(seconds: 10, "draining") { try await client.status()["draining"]?.boolValue == true }
            do {
                _ = try await client.submit("agent4", namespace: "cdrain", input: ["question": "late"])
                Issue.record("a submit was accepted while draining")
            } catch let error as PoolError {
                #expect(error.remoteCode == .draining)
            }
            for s in submissions { #expect(try await client.result(of: s).status == .completed) }
            let exit = await pool.coordinator.waitForExit(seconds: 15)
            #expect(exit == 0, "coordinator exit status \(String(describing: exit))")
            await client.close()
        }
    }

    @Test("a flow written for the local engine runs remotely unchanged, with the same result")
    func sameFlowLocallyAndRemotely() async throws {
        let local = try await Agent4.makeFlow().run(Agent4.makeStore(question: "same"), namespace: "local")
        try await PoolHarness.with(workers: 1) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let remote = try await client.run(Agent4.makeFlow(), namespace: "remote", input: ["question": "same"])
                #expect(remote == local.value)
                do {
                    _ = try await client.run("fail", namespace: "remote", input: ["message": "boom"])
                    Issue.record("a failing flow returned a result")
                } catch let error as PoolError {
                    #expect(error.code == .runFailed && error.remoteCode == .flowFailed)
                }
                // Error events have one shape, whoever writes them: the flow's node, the worker, the coordinator.
                _ = try? await client.run("fail", namespace: "shapes", input: ["message": "boom"], runId: "node")
                let late = try await client.submit(
                    "sleep",
                    namespace: "shapes",
                    input: ["ms": 10_000],
                    runId: "coordinator",
                    deadline: .milliseconds(300)
                )
                _ = try? await client.result(of: late)
                let failed = try await client.replay(pattern: "shapes").filter { $0.event.type == .error }
                let contents = Dictionary(uniqueKeysWithValues: failed.map { ($0.event.runId, $0.event.content) })
                #expect(contents["node"]?["code"] == "flow_failed" && contents["node"]?["node"] == "fail")
                #expect(contents["node"]?["message"]?.stringValue?.contains("boom") == true)
                #expect(contents["coordinator"]?["code"] == "deadline_exceeded")
                #expect(contents["coordinator"]?["node"] == "flowpool")
                // A flow no worker offers is not dispatched: with require_worker the submit says so at once.
                let refused = await #expect(throws: PoolError.self) {
                    _ = try await client.submit("no_such_flow", namespace: "shapes", input: [:], requireWorker: true)
                }
                #expect(refused?.remoteCode == .noWorkerForFlow)
            }
        }
    }

    @Test("a full pool answers submit with pool_full")
    func poolFull() async throws {
        try await PoolHarness.with(workers: 0, coordinatorArguments: ["--max-queue", "5"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                var accepted: [PoolClient.Submission] = []
                for i in 0..<5 {
                    accepted.append(
                        try await client.submit("agent4", namespace: "full", input: ["question": .string("q\(i)")])
                    )
                }
                do {
                    _ = try await client.submit("agent4", namespace: "full", input: ["question": "one too many"])
                    Issue.record("the sixth submit was accepted")
                } catch let error as PoolError {
                    #expect(error.code == .rejected)
                    #expect(error.remoteCode == .poolFull)
                    #expect(error.message.contains("full"))
                }
                #expect(try await pool.counter("submits_rejected_full") == 1)
                _ = try pool.startWorker()
                for s in accepted { #expect(try await client.result(of: s).status == .completed) }
            }
        }
    }

    @Test("a pool holding its bound of input bytes answers submit with pool_full, and takes runs again as they end")
    func poolFullByBytes() async throws {
        let arguments = ["--max-queue-mb", "1", "--result-retention-mb", "2"]
        try await PoolHarness.with(workers: 0, coordinatorArguments: arguments) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let big = String(repeating: "x", count: 300_000)
                var accepted: [PoolClient.Submission] = []
                for i in 0..<3 {
                    let input: JSONValue = ["question": .string("\(i)\(big)")]
                    accepted.append(try await client.submit("agent4", namespace: "bytes", input: input))
                }
                do {
                    _ = try await client.submit("agent4", namespace: "bytes", input: ["question": .string(big)])
                    Issue.record("a fourth input of 300 KB was accepted with 1 MiB allowed")
                } catch let error as PoolError {
                    #expect(error.remoteCode == .poolFull)
                    #expect(error.message.contains("--max-queue-mb"), "\(error.message)")
                }
                let status = try await client.status()
                #expect(status["active_input_bytes"]?.intValue ?? 0 > 900_000)
                #expect(status["limits"]?["max_queue_bytes"]?.intValue == 1 << 20)
                _ = try pool.startWorker()
                for s in accepted { #expect(try await client.result(of: s).status == .completed) }
                // Finished runs hold no input: a submit fits again.
                let again = try await client.submit("agent4", namespace: "bytes", input: ["question": .string(big)])
                #expect(try await client.result(of: again).status == .completed)
                let after = try await client.status()
                #expect(after["active_input_bytes"]?.intValue == 0)
                #expect(after["limits"]?["result_retention_bytes"]?.intValue == 2 << 20)
                #expect(after["results_kept"]?["runs"]?.intValue == 4)
            }
        }
    }

    @Test("two namespaces at once: each subscriber sees only its own")
    func namespacesAreSeparate() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let a = try await client.events(matching: "alpha")
                let b = try await client.events(matching: "alpha2")
                let ca = EventCollector()
                let cb = EventCollector()
                async let ra: Void = a.collect(into: ca)
                async let rb: Void = b.collect(into: cb)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<20 {
                        group.addTask {
                            _ = try await client.run(
                                "agent4",
                                namespace: "alpha",
                                input: ["question": .string("a\(i)")]
                            )
                        }
                        group.addTask {
                            _ = try await client.run(
                                "agent4",
                                namespace: "alpha2",
                                input: ["question": .string("b\(i)")]
                            )
                        }
                    }
                    try await group.waitForAll()
                }
                try await pool.until(seconds: 10, "all events") { ca.count >= 260 && cb.count >= 260 }
                a.close()
                b.close()
                await ra
                await rb
                #expect(ca.events.allSatisfy { $0.event.namespace == "alpha" })
                #expect(cb.events.allSatisfy { $0.event.namespace == "alpha2" })
                #expect(ca.count == 20 * 13 && cb.count == 20 * 13)
            }
        }
    }

    @Test("a late subscriber with from-start gets history then live events without gap or duplicate")
    func lateSubscriberFromStart() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                for i in 0..<30 {
                    _ = try await client.run("agent4", namespace: "late", input: ["question": .string("before \(i)")])
                }
                // Live runs are in progress while the late subscriber joins.
                async let live: Void = withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<60 {
                        group.addTask {
                            _ = try await client.run(
                                "sleep",
                                namespace: "late",
                                input: ["ms": .int(50 + i * 5), "n": .int(i)]
                            )
                        }
                    }
                    try await group.waitForAll()
                }
                try await Task.sleep(for: .milliseconds(150))
                let events = try await client.events(matching: "late", fromStart: true)
                let collector = EventCollector()
                async let collecting: Void = events.collect(into: collector)
                try await live
                try await pool.until(seconds: 20, "90 terminal events") { collector.terminals >= 90 }
                events.close()
                await collecting
                let byRun = collector.byRun
                #expect(byRun.count == 90)
                for (_, runEvents) in byRun { expectCompleteRun(runEvents) }
                #expect(collector.terminals == 90)
                #expect(events.statistics.fromHistory > 30 * 13 - 1)
                #expect(events.statistics.lost == 0)
            }
        }
    }

    @Test("replay with last_runs returns the newest runs of the pattern only, each whole")
    func replayOfTheNewestRuns() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                var runIds: [String] = []
                for i in 0..<20 {
                    let submission = try await client.submit(
                        "agent4",
                        namespace: "recent",
                        input: ["question": .string("q\(i)")]
                    )
                    _ = try await client.result(of: submission)
                    runIds.append(submission.runId)
                }
                let newest = try await client.replay(pattern: "recent", lastRuns: 5)
                #expect(Set(newest.map(\.event.runId)) == Set(runIds.suffix(5)))
                #expect(newest.count == 5 * 13)
                let all = try await client.replay(pattern: "recent", lastRuns: 1_000)
                #expect(all.count == 20 * 13)
                // A late subscriber asking for the newest history only.
                let events = try await client.events(matching: "recent", fromStart: true, historyRuns: 3)
                defer { events.close() }
                #expect(events.historyCount == 3 * 13)
                // last_runs limits a pattern; with ranges only it is refused, saying so.
                let refused = await #expect(throws: PoolError.self) {
                    try await client.replay(ranges: [ReplayRange(namespace: "recent", runId: runIds[0])], lastRuns: 2)
                }
                #expect(refused?.message.contains("last_runs") == true, "\(String(describing: refused))")
            }
        }
    }

    @Test("a stalled subscriber slows neither workers nor other subscribers; its drops are counted and repairable")
    func stalledSubscriber() async throws {
        try await PoolHarness.with(workers: 2, coordinatorArguments: ["--subscriber-hwm", "20000"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                // A subscriber that reads nothing at all: its socket stops reading, its pipe fills up.
                let frozen = try await FrozenSubscriber.connect(
                    to: pool.endpoints["events_out"]?.stringValue ?? "",
                    prefix: "slow/"
                )
                defer { frozen.close() }
                let fast = try await client.events(matching: "slow")
                // A subscriber whose consumer stalls: its local buffer overflows.
                let stalled = try await client.events(matching: "slow", bufferSize: 50)
                let collector = EventCollector()
                async let collecting: Void = fast.collect(into: collector)
                let runs = 400
                let clock = ContinuousClock()
                let started = clock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<runs {
                        group.addTask {
                            _ = try await client.run("agent4", namespace: "slow", input: ["question": .string("q\(i)")])
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = clock.now - started
                #expect(elapsed < .seconds(60))
                try await pool.until(seconds: 20, "fast subscriber complete") { collector.terminals >= runs }
                fast.close()
                await collecting
                #expect(collector.count == runs * 13, "the fast subscriber got every event")
                #expect(fast.statistics.lost == 0)
                // The coordinator cannot see a subscriber's drops; the subscriber reports them, and status shows them.
                try await pool.until(seconds: 10, "the stalled subscriber's drops in status") {
                    let reports = try await pool.status()["subscribers"]?.arrayValue ?? []
                    return reports.contains { ($0["buffer_drops"]?.intValue ?? 0) > 0 && $0["pattern"] == "slow" }
                }
                // Now read the stalled one: it lost events while stalled, and knows it. Every run it saw at all
                // is completed from replay: gaps inside a run when the next event arrives, lost tails (its
                // terminal event among them) by the periodic tail check.
                let late = EventCollector()
                async let draining: Void = stalled.collect(into: late)
                // A tail-check round runs after everything received before it, and a quiet run's tail is asked
                // for in its second quiet round: three rounds in which every run seen is complete mean that
                // nothing more is on its way.
                var completeSince: Int?
                try await pool.until(seconds: 20, "every run the stalled subscriber saw is complete") {
                    let byRun = late.byRun
                    let rounds = stalled.statistics.tailCheckRounds
                    guard !byRun.isEmpty, byRun.values.allSatisfy({ $0.last?.event.type.isTerminal == true }) else {
                        completeSince = nil
                        return false
                    }
                    let since = completeSince ?? rounds
                    completeSince = since
                    return rounds >= since + 3
                }
                stalled.close()
                await draining
                let s = stalled.statistics
                #expect(s.bufferDrops + s.gaps > 0, "drops were counted: \(s)")
                #expect(s.lost == 0, "every gap inside a run it saw was repaired: \(s)")
                for (_, runEvents) in late.byRun {
                    expectCompleteRun(runEvents, expectedLastAttemptEvents: 13)
                }
                // Everything it missed is still in the replay buffer.
                let history = try await client.replay(pattern: "slow")
                #expect(history.count == runs * 13)
            }
        }
    }

    @Test("a coordinator that was itself held up declares no live worker dead: silence counts up to what it has read")
    func heldUpCoordinatorKeepsLiveWorkers() async throws {
        try await PoolHarness.with(workers: 2, coordinatorArguments: ["--heartbeat-timeout-ms", "1000"]) { pool in
            // Every thread of the coordinator stops for three heartbeat timeouts while its workers keep
            // heartbeating; their heartbeats wait unread in its sockets.
            pool.coordinator.signal(SIGSTOP)
            try await Task.sleep(for: .seconds(3))
            pool.coordinator.signal(SIGCONT)
            try await PoolClient.withConnection(to: pool.control) { client in
                let s = try await client.submit("agent4", namespace: "held", input: ["question": "stock of part 7?"])
                let r = try await client.result(of: s)
                #expect(r.status == .completed && r.attempts == 1)
            }
            #expect(try await pool.counter("workers_lost") == 0)
            #expect(try await pool.status()["workers"]?.arrayValue?.count == 2)
        }
    }

    @Test("a worker whose cooperative pool is saturated by CPU-bound runs keeps heartbeating and is not declared dead")
    func busyWorkerKeepsHeartbeating() async throws {
        // 4 runs that each hold a thread for 3.5 s keep a 2-thread cooperative pool busy for about 7 s, well past
        // the coordinator's 2 s heartbeat timeout.
        try await PoolHarness.with(workers: 1, workerArguments: ["--concurrency", "4"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let runs = try await withThrowingTaskGroup(of: RunResult.self) { group in
                    for i in 0..<4 {
                        group.addTask {
                            let s = try await client.submit(
                                "spin",
                                namespace: "busy",
                                input: ["ms": 3500, "n": .int(i)]
                            )
                            return try await client.result(of: s)
                        }
                    }
                    var results: [RunResult] = []
                    for try await r in group { results.append(r) }
                    return results
                }
                #expect(runs.allSatisfy { $0.status == .completed && $0.attempts == 1 })
                #expect(try await pool.counter("workers_lost") == 0)
                #expect(try await pool.counter("jobs_redispatched") == 0)
            }
        }
    }

    @Test("a worker running flows on its socket loop completes every run with all its events, then drains")
    func loopExecutorRuns() async throws {
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: ["--heartbeat-timeout-ms", "5000"],
            workerArguments: ["--executor", "loop", "--concurrency", "16"]
        ) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "onloop")
                let collector = EventCollector()
                async let collecting: Void = events.collect(into: collector)
                let runs = 200
                let results = try await withThrowingTaskGroup(of: RunResult.self) { group in
                    for i in 0..<runs {
                        group.addTask {
                            let s = try await client.submit(
                                "agent4",
                                namespace: "onloop",
                                input: ["question": .string("part \(i)?")],
                                runId: "run-\(i)"
                            )
                            return try await client.result(of: s)
                        }
                    }
                    var results: [RunResult] = []
                    for try await r in group { results.append(r) }
                    return results
                }
                #expect(results.count == runs)
                #expect(results.allSatisfy { $0.status == .completed && $0.attempts == 1 })
                try await pool.until(seconds: 20, "one terminal event per run") { collector.terminals >= runs }
                events.close()
                await collecting
                let byRun = collector.byRun
                #expect(byRun.count == runs)
                for (_, runEvents) in byRun { expectCompleteRun(runEvents, expectedLastAttemptEvents: 13) }

                // Runs that await (timers) while the worker drains.
                var held: [PoolClient.Submission] = []
                for i in 0..<4 {
                    held.append(
                        try await client.submit("sleep", namespace: "onloop", input: ["ms": 600, "n": .int(i)])
                    )
                }
                try await pool.until(seconds: 10, "4 runs in flight") {
                    try await pool.status()["in_flight"]?.intValue == 4
                }
                let worker = pool.workers[0]
                worker.signal(SIGTERM)
                let exit = await worker.waitForExit(seconds: 15)
                #expect(exit == 0, "worker exit status \(String(describing: exit)): \(worker.stderr)")
                for s in held {
                    let r = try await client.result(of: s)
                    #expect(r.status == .completed && r.attempts == 1)
                }
            }
        }
    }

    @Test("a flow that computes for long on the socket loop does not cost the worker its life: a watchdog vouches")
    func loopExecutorWatchdog() async throws {
        // One 3 s `spin` on the loop thread holds the worker's heartbeat timer for three heartbeat timeouts
        // (the proof that runs really execute there); the watchdog's `stalled` reports keep it alive.
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: ["--heartbeat-timeout-ms", "1000"],
            workerArguments: ["--executor", "loop", "--concurrency", "1"]
        ) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let s = try await client.submit("spin", namespace: "hog", input: ["ms": 3000], maxAttempts: 1)
                let r = try await client.result(of: s)
                #expect(r.status == .completed && r.attempts == 1)
                #expect(try await pool.counter("stall_reports") >= 1, "the loop thread was held, and vouched for")
                #expect(try await pool.counter("workers_lost") == 0)
                #expect(try await pool.counter("jobs_redispatched") == 0)
                // And the worker still works.
                let next = try await client.run("sleep", namespace: "hog", input: ["ms": 1])
                #expect(next["slept_ms"]?.intValue == 1)
            }
        }
    }
}

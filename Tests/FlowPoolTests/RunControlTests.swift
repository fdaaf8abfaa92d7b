import FlowCore
import FlowPool
import Foundation
import Testing

/// Cancel, deadlines, expired leases and node retries on a real pool (coordinator and workers in their own
/// processes; cancels from another connection and from the `flowpool cancel` command).
@Suite("Run control", .serialized)
struct RunControlTests {
    /// The worker's in-flight count as its last heartbeat said.
    static func workerInFlight(_ pool: PoolHarness) async throws -> Int? {
        try await pool.status()["workers"]?.arrayValue?.first?["in_flight"]?.intValue
    }

    @Test("cancel: a queued run is removed, a running one stops on its worker; one cancelled event each")
    func cancelQueuedAndRunning() async throws {
        try await PoolHarness.with(workers: 1, workerArguments: ["--concurrency", "2"]) { pool in
            let watcher = try await PoolClient.connect(to: pool.control)
            let events = try await watcher.events(matching: "ctl")
            let collector = EventCollector()
            let collecting = Task { await events.collect(into: collector) }
            try await PoolClient.withConnection(to: pool.control) { client in
                // Two slots: a long run, a short one beside it, and a third that waits in the queue.
                let long = try await client.submit("sleep", namespace: "ctl", input: ["ms": 60_000], runId: "long")
                let beside = try await client.submit("sleep", namespace: "ctl", input: ["ms": 1_500], runId: "beside")
                let queued = try await client.submit("sleep", namespace: "ctl", input: ["ms": 60_000], runId: "queued")
                try await pool.until(seconds: 10, "two runs in flight on the worker") {
                    try await Self.workerInFlight(pool) == 2
                }
                // The queued one from another connection.
                let was = try await watcher.cancel(namespace: "ctl", runId: "queued")
                #expect(was == "queued")
                // The running one from another process.
                let command = try PoolProcess(
                    name: "cancel",
                    arguments: ["cancel", "long", "--namespace", "ctl", "--coordinator", pool.control],
                    directory: pool.directory
                )
                #expect(await command.waitForExit(seconds: 20) == 0, "flowpool cancel: \(command.stderr)")
                #expect(command.stdout.contains("it was running") || command.stdout.contains("it was dispatched"))

                for s in [long, queued] {
                    let r = try await client.result(of: s)
                    #expect(r.status == .cancelled && r.errorCode == .cancelled, "\(r)")
                }
                // The worker let go of the cancelled run's slot long before its 60 s, and the run beside it
                // completed.
                try await pool.until(seconds: 10, "the cancelled run's slot freed") {
                    try await Self.workerInFlight(pool) ?? 2 <= 1
                }
                #expect(try await client.result(of: beside).status == .completed)
                // Cancelling again: the result stands.
                do {
                    try await watcher.cancel(namespace: "ctl", runId: "long")
                    Issue.record("a finished run was cancelled again")
                } catch let error as PoolError {
                    #expect(error.remoteCode == .alreadyFinished, "\(error)")
                }
                try await pool.until(seconds: 10, "every run's terminal event") { collector.terminals == 3 }
                let byRun = collector.byRun
                for run in ["ctl/long", "ctl/queued"] {
                    let runEvents = byRun[run] ?? []
                    expectCompleteRun(runEvents)
                    #expect(runEvents.last?.event.type == .cancelled, "\(run): \(runEvents.map(\.event.type))")
                    #expect(runEvents.last?.event.content["code"]?.stringValue == "cancelled")
                }
                #expect(byRun["ctl/beside"]?.last?.event.type == .final)
                let counters = try await pool.status()["counters"]
                #expect(counters?["jobs_cancelled"]?.intValue == 2)
            }
            collecting.cancel()
            await watcher.close()
        }
    }

    @Test("a deadline ends a run with deadline_exceeded and cancels its attempt on the worker")
    func deadline() async throws {
        try await PoolHarness.with(workers: 1, workerArguments: ["--concurrency", "1"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "dl/slow")
                let collector = EventCollector()
                let collecting = Task { await events.collect(into: collector) }
                let slow = try await client.submit(
                    "sleep",
                    namespace: "dl",
                    input: ["ms": 60_000],
                    runId: "slow",
                    deadline: .milliseconds(800)
                )
                let r = try await client.result(of: slow, limit: .seconds(20))
                #expect(r.status == .failed && r.errorCode == .deadlineExceeded, "\(r)")
                try await pool.until(seconds: 10, "the attempt cancelled on the worker") {
                    try await Self.workerInFlight(pool) == 0
                }
                try await pool.until(seconds: 5, "the terminal event") { collector.terminals == 1 }
                let last = collector.events.last?.event
                #expect(last?.type == .error && last?.content["code"]?.stringValue == "deadline_exceeded")
                // The slot serves the next run.
                let next = try await client.submit("sleep", namespace: "dl", input: ["ms": 10], deadline: .seconds(30))
                #expect(try await client.result(of: next, limit: .seconds(20)).status == .completed)
                #expect(try await pool.counter("deadlines_exceeded") == 1)
                collecting.cancel()
            }
        }
    }

    @Test("an expired lease cancels the attempt it replaces on its worker")
    func expiredLeaseCancelsAttempt() async throws {
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: ["--lease-timeout-ms", "1000", "--max-attempts", "1"],
            workerArguments: ["--concurrency", "1"]
        ) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let s = try await client.submit("sleep", namespace: "lease", input: ["ms": 60_000])
                let r = try await client.result(of: s, limit: .seconds(20))
                #expect(r.errorCode == .attemptsExhausted, "\(r)")
                #expect(try await pool.counter("leases_expired") == 1)
                try await pool.until(seconds: 10, "the worker's in-flight count drops") {
                    try await Self.workerInFlight(pool) == 0
                }
            }
        }
    }

    @Test("node retries show in a pool run's stream as retrying events, then the run completes")
    func retryEventsInThePool() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "retry/r1")
                let collector = EventCollector()
                let collecting = Task { await events.collect(into: collector) }
                let s = try await client.submit("flaky", namespace: "retry", input: ["failures": 2], runId: "r1")
                let r = try await client.result(of: s, limit: .seconds(20))
                #expect(r.status == .completed && r.result["tries"]?.intValue == 3, "\(r)")
                try await pool.until(seconds: 5, "the terminal event") { collector.terminals == 1 }
                let retrying = collector.events.filter { $0.event.type == .retrying }
                #expect(retrying.map { $0.event.content["attempt"]?.intValue } == [1, 2])
                #expect(retrying.allSatisfy { $0.event.node == "flaky" && $0.attempt == 1 })
                #expect(retrying.first?.event.content["error"]?.stringValue?.contains("on purpose") == true)
                expectCompleteRun(collector.events)
                collecting.cancel()
            }
        }
    }
}

/// A client against a pool that cannot take its runs: it backs off and says why, then finishes once it can.
@Suite("Full pool", .serialized)
struct FullPoolTests {
    @Test("submit --count against a full pool with no workers backs off, says so, and finishes once a worker comes")
    func backsOffAndSaysWhy() async throws {
        try await PoolHarness.with(workers: 0, coordinatorArguments: ["--max-queue", "10"]) { pool in
            let clock = ContinuousClock()
            let start = clock.now
            let submit = try PoolProcess(
                name: "submit",
                arguments: [
                    "submit", "sleep", "--namespace", "full", "--input", #"{"ms":1}"#, "--count", "60", "--window",
                    "60",
                    "--coordinator", pool.control,
                ],
                directory: pool.directory
            )
            defer { submit.signal(SIGKILL) }
            // It says so at most every 5 s: the second time, at least 5 s of refusals lie behind.
            try await pool.until(seconds: 30, "the submitter says twice that the pool is full") {
                submit.stderr.split(separator: "\n").filter { $0.contains("submitting again with backoff") }.count >= 2
            }
            let refused = try await pool.counter("submits_rejected_full")
            let seconds = Int((clock.now - start).components.seconds) + 1
            // Each waiting submit backs off (1 ms doubling to 1 s): 50 of them are refused some hundreds of times in
            // all, where a client that retried at once was refused tens of thousands of times a second.
            #expect(refused > 0 && refused < 1_000 + 200 * seconds, "\(refused) refused submits in about \(seconds) s")
            _ = try pool.startWorker(["--concurrency", "8"])
            let exit = await submit.waitForExit(seconds: 60)
            #expect(exit == 0, "submit --count exit \(String(describing: exit)): \(submit.stderr)")
            #expect(submit.stdout.contains("submitted 60 completed 60"), "\(submit.stdout)")
        }
    }
}

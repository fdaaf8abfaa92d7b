import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

/// A real coordinator and worker process: the worker reports results in `results` messages.
@Suite("Batched results end to end", .serialized, .timeLimit(.minutes(2)))
struct BatchedResultsTests {
    /// Submits `runs` runs of `sleep` in one batch and returns their results, each run's once.
    private func runAll(
        _ client: PoolClient,
        namespace: String,
        runs: Int
    ) async throws -> [RunResult] {
        let batch = (0..<runs).map { i in
            (flow: "sleep", namespace: namespace, input: ["ms": 2, "n": .int(i)] as JSONValue)
        }
        let submissions = try await client.submitBatch(batch).map { try $0.get() }
        return try await withThrowingTaskGroup(of: RunResult.self) { group in
            for s in submissions { group.addTask { try await client.result(of: s) } }
            var results: [RunResult] = []
            for try await r in group { results.append(r) }
            return results
        }
    }

    @Test("a worker sends its results batched, each run completes exactly once, also after it re-registers")
    func resultsBatched() async throws {
        try await PoolHarness.with(workers: 1, workerArguments: ["--concurrency", "16"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "batched")
                let collector = EventCollector()
                async let collecting: Void = events.collect(into: collector)

                let runs = 300
                let results = try await runAll(client, namespace: "batched", runs: runs)
                #expect(results.count == runs)
                #expect(Set(results.map(\.runId)).count == runs, "exactly one result per run")
                #expect(results.allSatisfy { $0.status == .completed && $0.attempts == 1 })
                var status = try await pool.status()
                var counters = try #require(status["counters"])
                #expect(counters["jobs_completed"]?.intValue == runs)
                #expect(counters["results_batched"]?.intValue == runs, "every result came in a results message")
                let batches = counters["result_batches"]?.intValue ?? 0
                #expect(batches >= 1 && batches <= runs)
                #expect(counters["duplicate_results"]?.intValue == 0)
                #expect(counters["rejected_bad_json"]?.intValue == 0)

                // Declared dead while stopped, the worker is told to register again when it resumes; it
                // offers results again and keeps sending them batched.
                let worker = pool.workers[0]
                worker.signal(SIGSTOP)
                try await pool.until(seconds: 20, "the stopped worker declared dead") {
                    try await pool.counter("workers_lost") >= 1
                }
                worker.signal(SIGCONT)
                try await pool.waitForWorkers(1)
                let more = try await runAll(client, namespace: "batched", runs: 100)
                #expect(Set(more.map(\.runId)).count == 100)
                #expect(more.allSatisfy { $0.status == .completed })
                status = try await pool.status()
                counters = try #require(status["counters"])
                #expect(counters["jobs_completed"]?.intValue == runs + 100)
                #expect(counters["results_batched"]?.intValue == runs + 100)

                try await pool.until(seconds: 20, "one terminal event per run") { collector.terminals >= runs + 100 }
                events.close()
                await collecting
                let byRun = collector.byRun
                #expect(byRun.count == runs + 100)
                for (_, runEvents) in byRun { expectCompleteRun(runEvents) }
                #expect(collector.terminals == runs + 100, "exactly one terminal event per run")
            }
        }
    }

    @Test("a bad element of a results message is rejected like a bad result; the others still count")
    func badElement() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            let workersEndpoint = try #require(pool.endpoints["workers"]?.stringValue)
            let before = try #require(try await pool.status()["counters"])
            let context = try Context()
            try await withSocketLoop(context: context, name: "fp-results", logger: Logger(label: "results")) { loop in
                try await ReceivedCommands.withFakeWorker(
                    identity: "results-worker",
                    endpoint: workersEndpoint,
                    context: context,
                    loop: loop
                ) { worker, received in
                    func replies(_ n: Int) async throws -> [WorkerCommand] {
                        try await pool.until(seconds: 10, "\(n) replies") { received.list.withLock { $0.count } >= n }
                        return received.list.withLock { $0 }
                    }
                    let hello = WorkerHello(
                        workerId: "results-worker",
                        host: "h",
                        pid: 1,
                        concurrency: 1,
                        flows: [],
                        batchResults: true
                    )
                    try await loop.send(WorkerReport.hello(hello).frames, on: worker)
                    let registered = try await replies(1)
                    guard case .registered(true, let credential) = registered.first else {
                        Issue.record("expected registered with batch_results, got \(registered)")
                        return
                    }
                    // The identity, then a 128-bit tag.
                    let hexId = Array("results-worker".utf8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
                        .joined()
                    #expect(credential.hasPrefix(hexId + "."))
                    #expect(credential.count == 2 * "results-worker".utf8.count + 1 + 32)

                    // One readable element (of a job the coordinator does not know: a duplicate), two unreadable ones.
                    let text =
                        #"{"v":1,"op":"results","results":[{"job":"nope-1","attempt":1,"status":"completed"},"#
                        + #"{"job":"nope-2","attempt":0,"status":"completed"},7]}"#
                    var frames = [Array(text.utf8)]
                    for _ in 0..<3 { frames += [Array("x/r/final".utf8), Array("{}".utf8)] }
                    try await loop.send(frames, on: worker)
                    let errors = try await replies(3).dropFirst()
                    for reply in errors {
                        guard case .error(let code, let message) = reply else {
                            Issue.record("expected an error reply, got \(reply)")
                            continue
                        }
                        #expect(code == .badRequest && message.contains("results["))
                    }
                    // Frames that do not match the elements: the whole message is rejected.
                    try await loop.send(Array(frames.dropLast(2)), on: worker)
                    let last = try await replies(4).last
                    guard case .error = last else {
                        Issue.record("expected an error reply, got \(String(describing: last))")
                        return
                    }
                    try await pool.until(seconds: 10, "rejections counted") {
                        let c = try await pool.status()["counters"] ?? [:]
                        return (c["rejected_bad_json"]?.intValue ?? 0) - (before["rejected_bad_json"]?.intValue ?? 0)
                            >= 3
                    }
                }
            }
            let after = try #require(try await pool.status()["counters"])
            func delta(_ key: String) -> Int { (after[key]?.intValue ?? 0) - (before[key]?.intValue ?? 0) }
            #expect(delta("rejected_bad_json") == 3)
            #expect(delta("duplicate_results") == 1)
            #expect(delta("result_batches") == 1 && delta("results_batched") == 1)
        }
    }
}

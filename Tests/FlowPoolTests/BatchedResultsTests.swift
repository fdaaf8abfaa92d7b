import FlowCore
import FlowPool
import Foundation
import Testing

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
}

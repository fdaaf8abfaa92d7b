import FlowCore
import FlowPool
import Foundation
import Testing

/// A pool whose workers carry different flows, real processes: each run goes only to a worker that offers its flow,
/// a run whose flow nobody offers waits (and says so) until a worker that has it joins, and a submit may ask to be
/// refused instead.
@Suite("Routing by flow", .serialized)
struct FlowRoutingTests {
    /// The `completed` count of each worker, by worker id.
    static func completed(_ pool: PoolHarness) async throws -> [String: Int] {
        let workers = try await pool.status()["workers"]?.arrayValue ?? []
        var out: [String: Int] = [:]
        for w in workers {
            if let id = w["id"]?.stringValue { out[id] = w["completed"]?.intValue ?? 0 }
        }
        return out
    }

    @Test("worker A has agent4 and sleep, B has sleep and flaky: every run lands on a worker that has its flow")
    func mixedPool() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            _ = try pool.startWorker(["--worker-id", "wa", "--flows", "agent4,sleep", "--concurrency", "8"])
            _ = try pool.startWorker(["--worker-id", "wb", "--flows", "sleep,flaky", "--concurrency", "8"])
            try await pool.waitForWorkers(2)
            let status = try await pool.status()
            let flows = (status["workers"]?.arrayValue ?? []).map {
                ($0["id"]?.stringValue ?? "", $0["flows"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            }
            #expect(flows.sorted { $0.0 < $1.0 }.map(\.1) == [["agent4", "sleep"], ["flaky", "sleep"]])

            let client = try await PoolClient.connect(to: pool.control)
            var submissions: [(flow: String, submission: PoolClient.Submission)] = []
            for i in 0..<90 {
                let (flow, input): (String, JSONValue) =
                    switch i % 3 {
                    case 0: ("agent4", ["question": .string("q\(i)")])
                    case 1: ("sleep", ["ms": 5])
                    default: ("flaky", ["failures": 0])
                    }
                submissions.append((flow, try await client.submit(flow, namespace: "routing", input: input)))
            }
            for (flow, submission) in submissions {
                let result = try await client.result(of: submission, limit: .seconds(60))
                #expect(
                    result.status == .completed,
                    "\(flow): \(result.errorCode?.rawValue ?? "") \(result.errorMessage ?? "")"
                )
                #expect(result.attempts == 1, "\(flow) ran on a worker without it first")
            }
            // Workers report their completed counts with their heartbeats.
            var done: [String: Int] = [:]
            try await pool.until(seconds: 20, "90 completed runs reported") {
                done = try await Self.completed(pool)
                return (done["wa"] ?? 0) + (done["wb"] ?? 0) == 90
            }
            #expect((done["wa"] ?? 0) >= 30, "wa ran every agent4 run: \(done)")
            #expect((done["wb"] ?? 0) >= 30, "wb ran every flaky run: \(done)")
            #expect((done["wa"] ?? 0) + (done["wb"] ?? 0) == 90, "\(done)")

            // A flow neither offers waits, visibly, until a worker that has it joins.
            let waiting = try await client.submit("spin", namespace: "routing", input: ["ms": 1])
            try await pool.until(seconds: 20, "the spin run shown as waiting for a worker") {
                let s = try await pool.status()
                return s["queued_by_flow"]?["spin"]?.intValue == 1
                    && s["flows_without_worker"]?.arrayValue == [.string("spin")]
            }
            let text = try await Self.statusText(pool)
            #expect(text.contains("spin 1  (no live worker offers this flow)"), "\(text)")
            let refused = await #expect(throws: PoolError.self) {
                _ = try await client.submit("spin", namespace: "routing", input: ["ms": 1], requireWorker: true)
            }
            #expect(refused?.remoteCode == .noWorkerForFlow)
            #expect(refused?.message.contains("they offer: agent4, flaky, sleep") == true, "\(refused?.message ?? "")")
            _ = try pool.startWorker(["--worker-id", "wc", "--flows", "spin"])
            #expect(try await client.result(of: waiting, limit: .seconds(60)).status == .completed)
            try await pool.until(seconds: 20, "wc's run reported") { try await Self.completed(pool)["wc"] == 1 }

            // Asking for a flow the executable does not have is refused at start-up, with the ones it has.
            let wrong = try pool.startWorker(["--flows", "nonexistent"])
            let exit = await wrong.waitForExit(seconds: 20)
            #expect(exit != nil && exit != 0)
            #expect(wrong.stderr.contains("--flows names nonexistent"), "\(wrong.stderr)")
            await client.close()
        }
    }

    /// `flowpool status` as text.
    static func statusText(_ pool: PoolHarness) async throws -> String {
        let process = try PoolProcess(
            name: "status-\(UUID().uuidString.prefix(4))",
            arguments: ["status", "--coordinator", pool.control],
            directory: pool.directory
        )
        _ = await process.waitForExit(seconds: 20)
        return (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
    }
}

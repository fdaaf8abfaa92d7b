import FlowCore
import FlowPool
import Foundation
import Testing

/// The load harness end to end: `flowpool bench --quick` (which execs `flowpool-bench load`) starts its own
/// coordinator and workers, drives them, verifies every run and writes its JSON report.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BenchHarnessTests {
    static var buildDirectory: URL { URL(fileURLWithPath: PoolHarness.executable).deletingLastPathComponent() }

    /// Runs `flowpool` with `arguments`, reaping it (and, through its signal handler, its pool) on timeout.
    static func runFlowpool(
        _ arguments: [String],
        seconds: Double
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = NSTemporaryDirectory() + "flowpool-bench-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try PoolProcess(name: "bench", arguments: arguments, directory: directory)
        let status = await process.waitForExit(seconds: seconds)
        if status == nil {
            // SIGTERM lets the harness kill its coordinator and workers before exiting.
            await process.stop(grace: 5)
        }
        let stdout = (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
        let stderr = process.stderr
        try #require(status != nil, "flowpool bench did not finish within \(seconds) s:\n\(stderr.suffix(2000))")
        return (status ?? -1, stdout, stderr)
    }

    @Test func quickRunVerifiesEveryRunAndWritesTheReport() async throws {
        let bench = Self.buildDirectory.appendingPathComponent("flowpool-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: bench), "flowpool-bench not built at \(bench)")
        let json = NSTemporaryDirectory() + "flowpool-bench-\(UUID().uuidString.prefix(8)).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let runs = 1_500
        let (status, stdout, stderr) = try await Self.runFlowpool(
            [
                "bench", "--quick", "--runs", "\(runs)", "--in-flight", "64", "--subscribers", "2",
                "--baseline-messages", "20000", "--json-out", json,
            ],
            seconds: 120
        )
        #expect(status == 0, "exit \(status)\n\(stdout)\n\(stderr.suffix(2000))")
        // The table is printed.
        #expect(stdout.contains("jobs/s"))
        #expect(stdout.contains("submit→result"))
        #expect(stdout.contains("verified     yes"))
        // The progress line or the start-up notes go to standard error, not to the table.
        #expect(stderr.contains("starting a coordinator and 2 workers"))

        let data = try #require(FileManager.default.contents(atPath: json), "no JSON report at \(json)")
        let report = try JSONValue(wireBytes: Array(data))
        #expect(report["verified"]?.boolValue == true)
        #expect(report["environment"]?["cores"]?.intValue ?? 0 >= 1)
        let baseline = try #require(report["transport_baseline"])
        #expect(baseline["messages_per_second"]?.doubleValue ?? 0 > 0)

        let phase = try #require(report["phases"]?.arrayValue?.first)
        #expect(phase["flow"]?.stringValue == "agent4")
        #expect(phase["submitted"]?.intValue == runs)
        #expect(phase["completed"]?.intValue == runs)
        #expect(phase["failed"]?.intValue == 0)
        #expect(phase["runs_lost"]?.intValue == 0)
        #expect(phase["events_lost"]?.intValue == 0)
        #expect(phase["duplicate_results_at_client"]?.intValue == 0)
        #expect(phase["wrong_answers"]?.intValue == 0)
        #expect(phase["jobs_per_second"]?.doubleValue ?? 0 > 0)
        // The closed loop refills in `submit_batch` messages: fewer messages than runs, at least one per 1,000.
        let submitMessages = try #require(phase["submit_messages"]?.intValue, "submit_messages missing")
        #expect(submitMessages < runs && submitMessages >= (runs + 999) / 1000, "\(submitMessages) submit messages")

        for key in ["latency_first_event", "latency_final_event", "latency_result"] {
            let l = try #require(phase[key], "\(key) missing")
            #expect(l["count"]?.intValue == runs, "\(key) count")
            let p50 = l["p50"]?.doubleValue ?? -1
            let p99 = l["p99"]?.doubleValue ?? -1
            let p999 = l["p99_9"]?.doubleValue ?? -1
            let max = l["max"]?.doubleValue ?? -1
            #expect(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max * 1.001, "\(key): \(l.wireText)")
        }

        let subscribers = try #require(phase["subscribers"]?.arrayValue)
        #expect(subscribers.count == 2)
        for s in subscribers {
            #expect(s["events"]?.intValue == runs * Agent4.eventsPerRun)
            #expect(s["events_lost"]?.intValue == 0)
            #expect(s["seq_gaps"]?.intValue == 0)
            #expect(s["runs_without_terminal"]?.intValue == 0)
            #expect(s["runs_with_extra_terminals"]?.intValue == 0)
        }

        let coordinator = try #require(phase["coordinator"])
        #expect(coordinator["redispatches"]?.intValue == 0)
        #expect(coordinator["duplicate_results_suppressed"]?.intValue == 0)
        #expect(coordinator["events_forwarded"]?.intValue ?? 0 >= runs * Agent4.eventsPerRun)

        let processes = try #require(phase["processes"]?.arrayValue)
        let names = Set(processes.compactMap { $0["name"]?.stringValue })
        #expect(names.isSuperset(of: ["coordinator", "worker1", "worker2", "bench"]), "\(names)")
        for p in processes {
            #expect(p["cpu_seconds"]?.doubleValue ?? -1 >= 0)
            #expect(p["peak_rss_mib"]?.doubleValue ?? 0 > 1)
        }
    }

    /// Runs `flowpool-bench load ARGS --json-out FILE` and returns the exit status, the table and the report.
    static func load(_ arguments: [String], seconds: Double = 90) async throws -> (Int32, String, JSONValue) {
        let json = NSTemporaryDirectory() + "flowpool-bench-\(UUID().uuidString.prefix(8)).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let (status, stdout, stderr) = try await runFlowpool(
            ["bench", "load", "--quiet", "--json-out", json] + arguments,
            seconds: seconds
        )
        let data = try #require(
            FileManager.default.contents(atPath: json),
            "no report:\n\(stdout)\n\(stderr.suffix(2000))"
        )
        return (status, stdout, try JSONValue(wireBytes: Array(data)))
    }

    @Test func openLoopLLMShapedRunsAreCountedFromTheirIntendedSendTime() async throws {
        // 400 runs at 400/s of agent4_llm: 5 tokens of 1 ms, a chunk per 2 tokens = 4 + 3 + 1 = 8 events per run.
        let (status, stdout, report) = try await Self.load([
            "--rate", "400", "--runs", "400", "--warmup", "0", "--baseline-messages", "0",
            "--token-latency", "1ms", "--tokens", "5", "--tokens-per-chunk", "2",
        ])
        #expect(status == 0, "\(stdout)")
        let phase = try #require(report["phases"]?.arrayValue?.first)
        #expect(phase["flow"]?.stringValue == "agent4_llm")
        #expect(phase["offered_per_second"]?.doubleValue == 400)
        #expect(phase["completed"]?.intValue == 400)
        #expect(phase["wrong_answers"]?.intValue == 0)
        #expect(phase["subscribers"]?[0]?["events"]?.intValue == 400 * 8)
        #expect(phase["events_lost"]?.intValue == 0)
        // Each run waits 5 × 1 ms for its tokens, so no result can come back sooner than 5 ms after it was due.
        #expect(phase["latency_result"]?["p50"]?.doubleValue ?? 0 >= 5)
        // 400 runs at 400/s take a second to submit; the rate cannot exceed what was offered.
        #expect(phase["jobs_per_second"]?.doubleValue ?? 1_000 <= 400 * 1.05)
    }

    @Test func stalledSubscribersReadNothingWhileTheLiveOneGetsEveryEvent() async throws {
        let (status, stdout, report) = try await Self.load([
            "--runs", "2000", "--in-flight", "64", "--warmup", "0", "--baseline-messages", "0",
            "--stalled-subscribers", "2",
        ])
        #expect(status == 0, "\(stdout)")
        #expect(stdout.contains("(+ 2 stalled, reading nothing)"), "\(stdout)")
        let phase = try #require(report["phases"]?.arrayValue?.first)
        #expect(phase["stalled_subscribers"]?.intValue == 2)
        #expect(phase["completed"]?.intValue == 2000)
        #expect(phase["subscribers"]?.arrayValue?.count == 1)
        #expect(phase["subscribers"]?[0]?["events"]?.intValue == 2000 * 13)
        #expect(phase["events_lost"]?.intValue == 0)
    }

    @Test func chaosModeKillsWorkersAndLosesNoRun() async throws {
        let (status, stdout, report) = try await Self.load([
            "--duration", "4", "--warmup", "0", "--baseline-messages", "0", "--in-flight", "64",
            "--chaos-interval", "1",
        ])
        #expect(status == 0, "\(stdout)")
        let phase = try #require(report["phases"]?.arrayValue?.first)
        #expect(phase["chaos_kills"]?.intValue ?? 0 >= 2, "\(stdout)")
        let submitted = phase["submitted"]?.intValue ?? 0
        #expect(submitted > 0)
        // Every run ends with its result. A run can fail only by losing all its attempts to kills (rare, on a
        // loaded machine where a live worker also misses its 1 s heartbeat timeout): never for another reason.
        let completed = phase["completed"]?.intValue ?? 0
        let failed = phase["failed"]?.intValue ?? 0
        #expect(completed + failed == submitted, "\(stdout)")
        #expect(failed <= submitted / 100, "\(stdout)")
        if case .object(let byCode)? = phase["failures_by_code"] {
            #expect(Set(byCode.keys) == ["attempts_exhausted"], "\(stdout)")
        }
        #expect(phase["runs_lost"]?.intValue == 0)
        #expect(phase["duplicate_results_at_client"]?.intValue == 0)
        #expect(phase["runs_verified"]?.boolValue == true)
        #expect(phase["subscribers"]?[0]?["runs_without_terminal"]?.intValue == 0)
        #expect(phase["subscribers"]?[0]?["runs_with_extra_terminals"]?.intValue == 0)
        #expect(phase["coordinator"]?["workers_lost"]?.intValue ?? 0 >= 1)
    }
}

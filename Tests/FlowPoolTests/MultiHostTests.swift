import FlowCore
import FlowPool
import Foundation
import Testing

/// The pool across machines: a coordinator host, two worker hosts and a subscriber host, each a network namespace
/// of its own with an address from 198.18.0.0/15 on one bridge (``HostNetwork``), every peer reaching the
/// coordinator only by its host's address, every socket with CURVE keys. Links are cut (`ip link set … down` on
/// the host's bridge port) or made to delay and lose frames (``LinkImpairment``) while the pool works.
///
/// Needs root and iproute2; without them the suite is skipped, saying why. The delay-and-loss test also needs
/// TAP devices and python3 (``HostNetwork``'s link emulator) and is skipped without them.
@Suite(
    "Across network namespaces",
    .serialized,
    .timeLimit(.minutes(5)),
    .enabled(
        if: NetworkNamespaces.unavailable == nil,
        Comment(rawValue: NetworkNamespaces.unavailable ?? "network namespaces can be made")
    )
)
struct MultiHostTests {
    typealias Host = NetworkNamespaces.Host

    @Test(
        "20,000 agent4 runs across the hosts: one result and one terminal event each, every event at the subscriber host"
    )
    func twentyThousandRuns() async throws {
        try await NamespacedPool.with { pool in
            let runs = 20_000
            let outcome = try await pool.finish(pool.startLoad(["--runs", "\(runs)"]), seconds: 240)
            let phase = outcome.phase
            Self.expectEveryRunOnce(outcome, runs: runs)
            #expect(phase["events_lost"]?.intValue == 0)
            let subscriber = phase["subscribers"]?.arrayValue?.first ?? .null
            #expect(subscriber["events"]?.intValue == runs * Agent4.eventsPerRun, "\(subscriber.wireText)")
            #expect(subscriber["seq_gaps"]?.intValue == 0)
            #expect(subscriber["duplicates"]?.intValue == 0)
            // Both worker hosts did part of the work.
            for host in [Host.worker1, .worker2] {
                let completed = try await pool.worker(on: host)?["completed"]?.intValue ?? 0
                #expect(completed > 0, "\(host) completed \(completed) runs")
            }
            Self.note("no added delay", outcome)
        }
    }

    @Test("a worker host cut off for 10 s mid-load: no run lost or doubled, its late results suppressed, it rejoins")
    func workerPartition() async throws {
        try await NamespacedPool.with { pool in
            let load = try pool.startLoad(["--duration", "30"])
            // The load reaches the worker about to be cut.
            try await pool.until(seconds: 30, "the load running on \(Host.worker1)") {
                try await pool.worker(on: .worker1)?["completed"]?.intValue ?? 0 >= 500
            }
            let before = try await pool.status()
            let completedBefore = Self.worker(.worker1, in: before)?["completed"]?.intValue ?? 0
            let cutAt = ContinuousClock.now
            try pool.network.cut(.worker1)
            // Its heartbeats stop arriving: the coordinator gives it up and sends its runs elsewhere.
            try await pool.until(seconds: 9, "\(Host.worker1) declared lost") {
                let s = try await pool.status()
                return Self.worker(.worker1, in: s) == nil
                    && Self.counter("workers_lost", s) > Self.counter("workers_lost", before)
            }
            try await Task.sleep(until: cutAt + .seconds(10))
            try pool.network.heal(.worker1)
            let healedAt = ContinuousClock.now

            // It comes back by itself and takes work again.
            var base = 0
            try await pool.until(seconds: 20, "\(Host.worker1) registered again") {
                guard let w = try await pool.worker(on: .worker1), let c = w["completed"]?.intValue,
                    c >= completedBefore
                else { return false }
                base = c
                return true
            }
            let rejoined = ContinuousClock.now - healedAt
            try await pool.until(seconds: 20, "\(Host.worker1) completing new runs after the heal") {
                try await pool.worker(on: .worker1)?["completed"]?.intValue ?? 0 > base
            }

            let outcome = try await pool.finish(load, seconds: 120)
            let after = try await pool.status()
            Self.expectEveryRunOnce(outcome, runs: nil)
            let duplicates = Self.counter("duplicate_results", after) - Self.counter("duplicate_results", before)
            let lost = Self.counter("workers_lost", after) - Self.counter("workers_lost", before)
            #expect(duplicates > 0, "the partitioned worker's late results were suppressed and counted")
            #expect(lost >= 1)
            #expect(outcome.phase["redispatched_runs"]?.intValue ?? 0 > 0)
            print(
                "multi-host worker partition: \(outcome.phase["completed"]?.intValue ?? 0) runs, workers_lost +\(lost), duplicate_results +\(duplicates), redispatched \(outcome.phase["redispatched_runs"]?.intValue ?? 0), rejoined \(rejoined) after the heal, events lost \(outcome.phase["events_lost"]?.intValue ?? -1)"
            )
        }
    }

    @Test("the subscriber host cut off for 5 s: it repairs its gaps from replay and loses no event")
    func subscriberPartition() async throws {
        // Runs that last 12 s each and stream a chunk every 20 ms (6,000 events/s in all), all running at once:
        // every run is under way before the cut and ends after it, so the subscriber misses part of each and knows
        // of every one. The coordinator holds at most 32 batches for a subscriber that does not read (beyond what
        // the TCP connection holds): what the cut leaves unsent beyond that, the subscriber misses live.
        let runs = 120
        let tokens = 600
        let eventsPerRun = 4 + tokens + 1
        try await NamespacedPool.with(
            workerArguments: ["--concurrency", "\(runs)"],
            coordinatorArguments: ["--subscriber-hwm", "32"]
        ) { pool in
            let namespace = "partitioned"
            let subscriber = try pool.flowpool(
                "subscribe",
                on: .subscriber,
                ["subscribe", namespace, "--json", "--until-terminals", "\(runs)", "--coordinator", pool.control]
                    + pool.clientKeyArguments
            )
            try await pool.until(seconds: 30, "the subscription") { subscriber.stderr.contains("subscribed to") }
            let submit = try pool.flowpool(
                "submit",
                on: .coordinator,
                [
                    "submit", "agent4_llm", "--namespace", namespace, "--count", "\(runs)", "--window", "\(runs)",
                    "--input", #"{"question":"q","token_delay_ms":20,"tokens":\#(tokens),"tokens_per_chunk":1}"#,
                    "--coordinator", pool.control, "--log-level", "warning",
                ] + pool.clientKeyArguments
            )
            try await pool.until(seconds: 30, "all \(runs) runs running") {
                try await pool.status()["jobs_by_state"]?["running"]?.intValue == runs
            }
            try pool.network.cut(.subscriber)
            try await Task.sleep(for: .seconds(5))
            try pool.network.heal(.subscriber)

            let submitted = await submit.waitForExit(seconds: 90)
            #expect(submitted == 0, "submit: \(submit.stdout) \(submit.stderr)")
            let exited = await subscriber.waitForExit(seconds: 60)
            try #require(exited == 0, "subscriber exit \(String(describing: exited)): \(subscriber.stderr)")

            // Its own account: every gap repaired, nothing lost.
            let summary = try #require(subscriber.stderr.split(separator: "\n").last { $0.hasPrefix("events ") })
            let figures = Self.figures(String(summary))
            #expect(figures["lost"] == 0, "\(summary)")
            #expect(figures["gaps"] ?? 0 > 0, "the cut cost the subscriber events (\(summary))")
            #expect(figures["repaired"] == figures["gaps"], "\(summary)")
            #expect(figures["events"] == runs * eventsPerRun, "\(summary)")

            // What it printed: every event of every run, in order, one terminal event each.
            let lines = subscriber.stdout.split(separator: "\n")
            let events = try lines.map { try JSONValue(wireText: String($0)) }
            let byRun = Dictionary(grouping: events) { $0["run"]?.stringValue ?? "?" }
            #expect(byRun.count == runs)
            for (run, events) in byRun {
                let last = events.last?["attempt"]?.intValue
                let seqs = events.filter { $0["attempt"]?.intValue == last }.map { $0["seq"]?.intValue ?? 0 }
                #expect(seqs == Array(1...eventsPerRun), "\(run): \(seqs.count) events")
                #expect(events.filter { $0["type"]?.stringValue == "final" }.count == 1, "\(run)")
            }
            print("multi-host subscriber partition: \(runs) runs, \(summary)")
        }
    }

    @Test(
        "20 ms ± 5 ms delay and 1 % loss between all hosts: every run completes",
        .enabled(
            if: NetworkNamespaces.impairmentUnavailable == nil,
            Comment(rawValue: NetworkNamespaces.impairmentUnavailable ?? "links can be impaired")
        )
    )
    func delayAndLoss() async throws {
        let impairment = LinkImpairment(delayMs: 20, jitterMs: 5, lossPercent: 1)
        // Workers that hold up to 512 runs each: over links this slow a run holds its worker's slot for a round trip
        // at least, so what the workers may hold, not their CPU, bounds the rate.
        try await NamespacedPool.with(workerArguments: ["--concurrency", "512"], impairment: impairment) { pool in
            // One run at a time crosses four impaired links (submit, dispatch, result, answer), each in 15 ms at
            // least; unimpaired, it takes a few milliseconds.
            let single = try await pool.finish(pool.startLoad(["--runs", "20", "--in-flight", "1"]), seconds: 60)
            Self.expectEveryRunOnce(single, runs: 20)
            let p50 = single.phase["latency_result"]?["p50"]?.doubleValue ?? 0
            #expect(p50 >= 60, "p50 submit→result of one run at a time: \(p50) ms")

            // 10,000 runs with 256 in flight, as the other loads here, then 10,000 with 1,024 in flight.
            let runs = 10_000
            var outcomes: [(inFlight: Int, outcome: NamespacedPool.LoadOutcome)] = []
            for inFlight in [256, 1024] {
                let outcome = try await pool.finish(
                    pool.startLoad(["--runs", "\(runs)", "--in-flight", "\(inFlight)"]),
                    seconds: 240
                )
                Self.expectEveryRunOnce(outcome, runs: runs)
                #expect(outcome.phase["events_lost"]?.intValue == 0)
                outcomes.append((inFlight, outcome))
            }
            // And the links lost frames, about 1 % of what each host sent.
            let counts = try await pool.network.linkCounts()
            #expect(counts.count == Host.all.count)
            var offered = 0
            var lost = 0
            for (host, c) in counts {
                let hostOffered = (c["sent"] ?? 0) + (c["lost"] ?? 0) + (c["over_limit"] ?? 0)
                #expect(c["lost"] ?? 0 > 0, "\(host) lost no frame of \(hostOffered)")
                offered += hostOffered
                lost += c["lost"] ?? 0
            }
            let lossRate = Double(lost) / Double(max(offered, 1))
            #expect(offered > 20_000 && (0.005...0.02).contains(lossRate), "\(lost) of \(offered) frames lost")
            for (inFlight, outcome) in outcomes {
                Self.note("\(impairment) on every host, \(inFlight) in flight", outcome)
            }
            print("multi-host one run at a time (\(impairment)): p50 submit→result \(p50) ms")
            print("multi-host links (\(impairment)): \(lost) of \(offered) frames lost, per host \(counts)")
        }
    }

    @Test("the coordinator host cut off for 5 s: workers and clients recover by themselves")
    func coordinatorPartition() async throws {
        try await NamespacedPool.with { pool in
            let load = try pool.startLoad(["--duration", "20"])
            try await pool.until(seconds: 30, "the load running on both worker hosts") {
                let s = try await pool.status()
                return [Host.worker1, .worker2].allSatisfy {
                    Self.worker($0, in: s)?["completed"]?.intValue ?? 0 >= 500
                }
            }
            let before = try await pool.status()
            try pool.network.cut(.coordinator)
            try await Task.sleep(for: .seconds(5))
            try pool.network.heal(.coordinator)
            let healedAt = ContinuousClock.now
            let cutStatus = try await pool.status()
            let completedAtHeal = Self.counter("jobs_completed", cutStatus)

            // Both workers come back by themselves and take work again; the client's runs complete again.
            var bases: [Host: Int] = [:]
            try await pool.until(seconds: 20, "both workers registered again") {
                let s = try await pool.status()
                for host in [Host.worker1, .worker2] where bases[host] == nil {
                    let before = Self.worker(host, in: before)?["completed"]?.intValue ?? 0
                    if let c = Self.worker(host, in: s)?["completed"]?.intValue, c >= before { bases[host] = c }
                }
                return bases.count == 2
            }
            let rejoined = ContinuousClock.now - healedAt
            try await pool.until(seconds: 20, "both workers completing new runs") {
                let s = try await pool.status()
                return bases.allSatisfy { host, base in Self.worker(host, in: s)?["completed"]?.intValue ?? 0 > base }
            }
            let outcome = try await pool.finish(load, seconds: 120)
            let after = try await pool.status()
            Self.expectEveryRunOnce(outcome, runs: nil)
            #expect(outcome.phase["events_lost"]?.intValue == 0)
            #expect(Self.counter("jobs_completed", after) > completedAtHeal)
            let lost = Self.counter("workers_lost", after) - Self.counter("workers_lost", before)
            #expect(lost >= 2, "both workers fell silent for the coordinator during the cut")
            print(
                "multi-host coordinator partition: \(outcome.phase["completed"]?.intValue ?? 0) runs, workers_lost +\(lost), duplicate_results +\(Self.counter("duplicate_results", after) - Self.counter("duplicate_results", before)), workers back \(rejoined) after the heal, slowest submit→result \(outcome.phase["latency_result"]?["max"]?.doubleValue ?? -1) ms"
            )
        }
    }

    // MARK: Helpers

    /// Every accepted run of the load has exactly one (correct) result and the subscriber exactly one terminal
    /// event of it; with `runs`, that many were submitted and completed.
    static func expectEveryRunOnce(
        _ outcome: NamespacedPool.LoadOutcome,
        runs: Int?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let phase = outcome.phase
        #expect(outcome.status == 0, "load exit \(outcome.status)\n\(outcome.table)", sourceLocation: sourceLocation)
        #expect(outcome.report["verified"]?.boolValue == true, "\(outcome.table)", sourceLocation: sourceLocation)
        if let runs {
            #expect(phase["submitted"]?.intValue == runs, sourceLocation: sourceLocation)
            #expect(phase["completed"]?.intValue == runs, sourceLocation: sourceLocation)
        } else {
            #expect(phase["completed"]?.intValue ?? 0 > 0, sourceLocation: sourceLocation)
            #expect(phase["completed"]?.intValue == phase["accepted"]?.intValue, sourceLocation: sourceLocation)
        }
        for key in ["failed", "rejected", "runs_lost", "duplicate_results_at_client", "wrong_answers"] {
            #expect(
                phase[key]?.intValue == 0,
                "\(key): \(phase[key]?.wireText ?? "missing")",
                sourceLocation: sourceLocation
            )
        }
        let subscriber = phase["subscribers"]?.arrayValue?.first ?? .null
        #expect(subscriber["runs_without_terminal"]?.intValue == 0, sourceLocation: sourceLocation)
        #expect(subscriber["runs_with_extra_terminals"]?.intValue == 0, sourceLocation: sourceLocation)
    }

    /// Prints the load's rate, for bench/RESULTS.md.
    static func note(_ condition: String, _ outcome: NamespacedPool.LoadOutcome) {
        let phase = outcome.phase
        print(
            String(
                format:
                    "multi-host load (%@): %d agent4 runs, %.0f jobs/s over %.2f s, p50/p99 submit→result %.1f/%.1f ms, events lost %d, workers lost %d",
                condition,
                phase["completed"]?.intValue ?? 0,
                phase["jobs_per_second"]?.doubleValue ?? 0,
                phase["seconds"]?.doubleValue ?? 0,
                phase["latency_result"]?["p50"]?.doubleValue ?? 0,
                phase["latency_result"]?["p99"]?.doubleValue ?? 0,
                phase["events_lost"]?.intValue ?? -1,
                phase["coordinator"]?["workers_lost"]?.intValue ?? -1
            )
        )
    }

    /// The status's entry of the worker on `host`.
    static func worker(_ host: Host, in status: JSONValue) -> JSONValue? {
        status["workers"]?.arrayValue?.first { $0["id"]?.stringValue == host.role }
    }

    /// A counter of a status.
    static func counter(_ name: String, _ status: JSONValue) -> Int { status["counters"]?[name]?.intValue ?? 0 }

    /// `events 1 received 2 gaps 3 …` (the subscriber's summary) as a dictionary.
    static func figures(_ line: String) -> [String: Int] {
        let words = line.split(separator: " ").map(String.init)
        var out: [String: Int] = [:]
        for i in stride(from: 0, to: words.count - 1, by: 2) { out[words[i]] = Int(words[i + 1]) }
        return out
    }
}

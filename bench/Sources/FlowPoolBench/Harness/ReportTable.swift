import Foundation

/// Renders reports as the plain-text table printed at the end of a run.
enum ReportTable {
    static func number(_ v: Double) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.maximumFractionDigits = 0
        return f.string(from: NSNumber(value: v)) ?? String(Int(v))
    }

    static func ms(_ v: Double) -> String {
        let s = v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.3f", v)
        return s.padding(toLength: 9, withPad: " ", startingAt: 0)
    }

    private static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }

    private static func padLeft(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : String(repeating: " ", count: n - s.count) + s
    }

    /// The table of one phase.
    static func render(_ p: PhaseReport, baseline: TransportBaseline?, messagesPerRun: Int?) -> String {
        var lines: [String] = []
        var head = "== \(p.label): \(p.flow) on namespace \(p.namespace), \(p.model)"
        if let w = p.workers { head += ", \(w) worker\(w == 1 ? "" : "s")" }
        head += ", \(p.subscriberCount) subscriber\(p.subscriberCount == 1 ? "" : "s")"
        if let stalled = p.stalledSubscribers { head += " (+ \(stalled) stalled, reading nothing)" }
        if BenchKeys.client != nil { head += ", CURVE keys on every socket" }
        lines.append(head)
        lines.append(
            "runs         submitted \(p.submitted)  completed \(p.completed)  failed \(p.failed)  rejected \(p.rejected)  lost \(p.runsLost)  redispatched \(p.redispatchedRuns)"
        )
        if let messages = p.submitMessages, messages > 0 {
            let perMessage = Double(p.submitted) / Double(messages)
            lines.append(
                "submits      \(p.submitted) runs in \(messages) submit messages (\(String(format: "%.1f", perMessage)) per message)"
            )
        }
        var throughput = "throughput   \(number(p.jobsPerSecond)) jobs/s over \(String(format: "%.2f", p.seconds)) s"
        if let offered = p.offeredPerSecond { throughput += " (offered \(number(offered))/s)" }
        lines.append(throughput)
        lines.append("latency ms       " + ["p50", "p90", "p99", "p99.9", "max"].map { padLeft($0, 8) + " " }.joined())
        for (name, l) in [
            ("submit→first", p.latencyFirstEvent), ("submit→final", p.latencyFinalEvent),
            ("submit→result", p.latencyResult), ("emit→subscriber", p.latencyEmitToSubscriber),
        ] where l.count > 0 {
            lines.append(
                "  " + pad(name, 15)
                    + [l.p50, l.p90, l.p99, l.p999, l.max].map {
                        padLeft(ms($0).trimmingCharacters(in: .whitespaces), 8) + " "
                    }.joined()
            )
        }
        for (n, s) in p.subscribers.enumerated() {
            lines.append(
                "subscriber \(n + 1)  \(s.events) events (\(number(s.eventsPerSecond))/s)  lost \(s.eventsLost)\(s.eventsUndelivered > 0 ? "  still arriving \(s.eventsUndelivered)" : "")  seq gaps \(s.seqGaps)  dup \(s.duplicates)  runs without terminal \(s.runsWithoutTerminal)  extra terminals \(s.runsWithExtraTerminals)"
            )
            if p.subscribers.count > 3, n == 1 {
                let rest = p.subscribers.dropFirst(2)
                let minRate = rest.map(\.eventsPerSecond).min() ?? 0
                lines.append(
                    "subscribers 3…\(p.subscribers.count)  min \(number(minRate)) events/s  lost \(rest.reduce(0) { $0 + $1.eventsLost })  without terminal \(rest.reduce(0) { $0 + $1.runsWithoutTerminal })"
                )
                break
            }
        }
        if let c = p.coordinator {
            lines.append(
                "coordinator  redispatches \(c.redispatches)  duplicate results suppressed \(c.duplicateResultsSuppressed)  workers lost \(c.workersLost)  pool_full \(c.submitsRejectedFull)  events forwarded \(c.eventsForwarded)"
            )
            if c.resultBatches > 0 {
                let perMessage = Double(c.resultsBatched) / Double(c.resultBatches)
                lines.append(
                    "results      \(c.resultsBatched) in \(c.resultBatches) results messages (\(String(format: "%.1f", perMessage)) per message)"
                )
            }
        }
        if let held = p.peakRunsHeld {
            var s = "held         peak \(held) runs in flight on workers"
            if let m = p.memoryPerRunKib { s += String(format: ", %.1f KiB worker memory per run", m) }
            lines.append(s)
        }
        if let kills = p.chaosKills { lines.append("chaos        \(kills) workers killed with SIGKILL and restarted") }
        if !p.processes.isEmpty {
            lines.append("process        cpu s   cpu %  cpu µs/run  peak RSS MiB")
            for f in p.processes {
                lines.append(
                    "  " + pad(f.name, 12) + padLeft(String(format: "%.2f", f.cpuSeconds), 7)
                        + padLeft(String(format: "%.0f", f.cpuPercent), 8)
                        + padLeft(String(format: "%.1f", f.cpuMicrosecondsPerRun), 12)
                        + padLeft(String(format: "%.1f", f.peakRssMib), 14)
                )
            }
            let total = p.processes.reduce(0) { $0 + $1.cpuMicrosecondsPerRun }
            lines.append("  " + pad("all", 12) + padLeft(String(format: "%.1f", total), 27) + " µs of CPU per run")
        }
        if let b = baseline, let m = messagesPerRun, b.messagesPerSecond > 0 {
            let poolRate = p.jobsPerSecond * Double(m)
            lines.append(
                "transport    raw libzmq PUSH/PULL \(b.messageBytes) B: \(number(b.messagesPerSecond)) msg/s; pool moves ≈ \(number(poolRate)) events + control messages/s through the coordinator (\(String(format: "%.1f", poolRate / b.messagesPerSecond * 100)) % of that message rate)"
            )
        }
        if let r = p.rejectionSample { lines.append("first rejection: \(r)") }
        if let f = p.failureSample { lines.append("first failure: \(f)") }
        let runs =
            p.runsVerified ? "every accepted run has exactly one result and one terminal event" : "RUNS LOST OR DOUBLED"
        let events = p.eventsVerified ? "no event lost" : "\(p.eventsLost) EVENTS LOST"
        if p.chaosKills != nil {
            // A killed worker's events that had not left it are gone with it: chaos mode judges the runs.
            let lost = p.eventsLost > 0 ? "\(p.eventsLost) events of finished runs lost with killed workers" : events
            lines.append("verified     \(p.runsVerified ? "yes" : "NO") (chaos mode judges runs): \(runs); \(lost)")
        } else {
            lines.append("verified     \(p.verified ? "yes" : "NO"): \(runs); \(events)")
        }
        return lines.joined(separator: "\n")
    }
}

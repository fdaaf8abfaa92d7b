import FlowCore
import FlowPool
import Foundation
import Logging

/// One `load` invocation: the baseline, the pool(s), the phases, the tables, charts and report.
struct LoadSession: Sendable {
    var settings: LoadSettings

    private func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    private func note(_ text: String) {
        if settings.progress { FileHandle.standardError.write(Data((text + "\n").utf8)) }
    }

    func run() async throws -> LoadReport {
        let s = settings
        let startDate = Date()
        let loadAtStart = LoadReport.loadAverage()
        var baseline: TransportBaseline?
        if s.baselineMessages > 0 {
            note("measuring the raw libzmq PUSH/PULL rate (\(s.baselineMessages) × \(s.baselineBytes) B)…")
            baseline = try await TransportBaseline.measure(messages: s.baselineMessages, messageBytes: s.baselineBytes)
        }
        var phases: [PhaseReport] = []
        var sweepPoints: [LoadReport.SweepPoint]?
        var saturation: Double?
        var scalingPoints: [LoadReport.ScalingPoint]?
        var reference: PythonReference?

        if let counts = s.scaling {
            var points: [LoadReport.ScalingPoint] = []
            for w in counts {
                let phase = try await withPool(workers: w) { runner in
                    try await warm(runner)
                    return try await runner.run(
                        s.plan(.closed(inFlight: s.inFlight), runs: s.runs, seconds: s.seconds),
                        label: "scaling \(w)w"
                    )
                }
                printTable(phase, baseline)
                phases.append(phase)
                points.append(
                    .init(
                        workers: w,
                        jobsPerSecond: phase.jobsPerSecond,
                        p99Ms: phase.latencyResult.p99,
                        eventsLost: phase.eventsLost
                    )
                )
            }
            scalingPoints = points
        } else {
            try await withPool(workers: s.workers) { runner in
                try await warm(runner)
                var chaosRunner = runner
                if let interval = s.chaosInterval, let pool = runner.localPool {
                    chaosRunner.chaos = .init(pool: pool, interval: interval)
                }
                if s.sweep || s.rateFraction != nil || s.rate == nil {
                    let before = try await measureReference()
                    let closed = try await chaosRunner.run(
                        s.plan(.closed(inFlight: s.inFlight), runs: s.runs, seconds: s.seconds),
                        label: "closed loop"
                    )
                    if let before, let after = try await measureReference() {
                        reference = PythonReference(script: s.pythonReference ?? "", before: before, after: after)
                    }
                    printTable(closed, baseline)
                    if let reference { say(Self.render(reference, against: closed)) }
                    phases.append(closed)
                    if let f = s.rateFraction {
                        let rate = max(1, closed.jobsPerSecond * f)
                        let open = try await chaosRunner.run(
                            s.plan(
                                .open(perSecond: rate),
                                runs: s.runs.map { max(1, Int(Double($0) * f)) },
                                seconds: s.seconds
                            ),
                            label: "open loop at \(Int(f * 100)) %"
                        )
                        printTable(open, baseline)
                        phases.append(open)
                    }
                    if s.sweep {
                        let (points, sat, sweepPhases) = try await runSweep(
                            runner,
                            reference: closed.jobsPerSecond,
                            baseline
                        )
                        sweepPoints = points
                        saturation = sat
                        phases += sweepPhases
                    }
                } else if let rate = s.rate {
                    let open = try await chaosRunner.run(
                        s.plan(.open(perSecond: rate), runs: s.runs, seconds: s.seconds),
                        label: "open loop"
                    )
                    printTable(open, baseline)
                    phases.append(open)
                }
                return ()
            }
        }

        var report = LoadReport(
            environment: LoadReport.environment(
                command: s.command,
                poolMode: s.coordinator == nil ? "local" : "external",
                startDate: startDate,
                loadAtStart: loadAtStart
            ),
            transportBaseline: baseline,
            pythonReference: reference,
            messagesPerRun: s.messagesPerRun,
            transportFraction: nil,
            phases: phases,
            sweep: sweepPoints,
            saturationPerSecond: saturation,
            scaling: scalingPoints,
            verified: phases.allSatisfy { settings.chaosInterval == nil ? $0.verified : $0.runsVerified }
        )
        if let b = baseline, let m = s.messagesPerRun, let best = phases.map(\.jobsPerSecond).max(),
            b.messagesPerSecond > 0
        {
            report.transportFraction = best * Double(m) / b.messagesPerSecond
        }
        try writeCharts(report)
        return report
    }

    /// Runs the Python reference (when asked for) with this invocation's workers, runs in flight and duration.
    private func measureReference() async throws -> PythonReference.Figures? {
        guard let script = settings.pythonReference else { return nil }
        note("measuring the pyzmq + PocketFlow reference pool (\(script))…")
        return try await PythonReference.measure(
            script: script,
            workers: settings.workers,
            inFlight: settings.inFlight,
            seconds: settings.seconds,
            warmup: min(settings.warmup, 1)
        )
    }

    /// The reference's figures and the pool's rate as a multiple of their mean.
    static func render(_ r: PythonReference, against phase: PhaseReport) -> String {
        func loss(_ f: PythonReference.Figures) -> String {
            String(format: "%.1f %%", f.lossPct ?? 0)
        }
        let mean = r.meanJobsPerSecond
        let ratio = mean > 0 ? phase.jobsPerSecond / mean : 0
        var lines = [
            "reference    pyzmq \(r.before.pyzmq ?? "?") + PocketFlow \(r.before.pocketflow ?? "?"), \(r.before.workers) workers, \(r.before.window) in flight: \(ReportTable.number(r.before.jobsPerS)) jobs/s before, \(ReportTable.number(r.after.jobsPerS)) after; events lost \(loss(r.before)) / \(loss(r.after))",
            "             this pool: \(String(format: "%.2f", ratio))× the reference's mean rate, \(phase.eventsLost) events lost",
        ]
        if let a = r.before.cpuUsPerRun, let b = r.after.cpuUsPerRun {
            lines[0] += String(format: "; %.0f / %.0f µs CPU per run", a, b)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func printTable(_ phase: PhaseReport, _ baseline: TransportBaseline?) {
        say(ReportTable.render(phase, baseline: baseline, messagesPerRun: settings.messagesPerRun))
        say("")
    }

    /// Unrecorded load so that connections, caches and the allocator are warm.
    private func warm(_ runner: PhaseRunner) async throws {
        guard settings.warmup > 0 else { return }
        var quiet = runner
        quiet.progress = false
        quiet.subscribers = min(1, settings.subscribers)
        quiet.chaos = nil
        note("warming up for \(settings.warmup) s…")
        _ = try await quiet.run(
            settings.plan(.closed(inFlight: settings.inFlight), runs: nil, seconds: settings.warmup),
            label: "warm-up"
        )
    }

    /// Open-loop steps from 10 % of the closed-loop rate upward by ×1.4 until the pool falls behind.
    private func runSweep(
        _ runner: PhaseRunner,
        reference: Double,
        _ baseline: TransportBaseline?
    ) async throws
        -> ([LoadReport.SweepPoint], Double, [PhaseReport])
    {
        var points: [LoadReport.SweepPoint] = []
        var phases: [PhaseReport] = []
        var rate = max(10, reference * 0.1)
        var best = 0.0
        for _ in 0..<14 {
            let phase = try await runner.run(
                settings.plan(.open(perSecond: rate), runs: nil, seconds: settings.stepSeconds),
                label: "sweep \(Int(rate))/s"
            )
            let saturated = phase.rejected > 0 || phase.jobsPerSecond < 0.9 * rate || phase.latencyResult.p99 > 1000
            points.append(
                .init(
                    offeredPerSecond: rate,
                    jobsPerSecond: phase.jobsPerSecond,
                    p50Ms: phase.latencyResult.p50,
                    p99Ms: phase.latencyResult.p99,
                    p999Ms: phase.latencyResult.p999,
                    rejected: phase.rejected,
                    saturated: saturated
                )
            )
            phases.append(phase)
            say(
                String(
                    format:
                        "sweep  offered %8.0f/s  achieved %8.0f/s  p50 %8.3f ms  p99 %8.3f ms  p99.9 %8.3f ms  rejected %d%@",
                    rate,
                    phase.jobsPerSecond,
                    phase.latencyResult.p50,
                    phase.latencyResult.p99,
                    phase.latencyResult.p999,
                    phase.rejected,
                    saturated ? "  SATURATED" : ""
                )
            )
            if saturated { break }
            best = max(best, phase.jobsPerSecond)
            rate *= 1.4
        }
        say(String(format: "saturation ≈ %.0f runs/s (highest offered rate the pool kept up with)\n", best))
        return (points, best, phases)
    }

    /// Starts the local pool (or uses the external one), runs `body` and stops every started process.
    private func withPool<T: Sendable>(workers: Int, _ body: (PhaseRunner) async throws -> T) async throws -> T {
        let s = settings
        if let coordinator = s.coordinator {
            let runner = PhaseRunner(
                control: coordinator,
                subscribers: s.subscribers,
                plainSubscribers: s.plainSubscribers,
                stalledSubscribers: s.stalledSubscribers,
                progress: s.progress,
                workers: nil,
                processes: { [("bench", getpid())] },
                logger: s.logger
            )
            return try await body(runner)
        }
        note("starting a coordinator and \(workers) worker\(workers == 1 ? "" : "s") (\(s.executable))…")
        let options = LocalPool.Options(
            executable: s.executable,
            workers: workers,
            workerConcurrency: s.concurrency,
            coordinatorArguments: s.coordinatorArguments
                + (s.chaosInterval != nil ? ["--heartbeat-timeout-ms", "1000"] : []),
            workerArguments: s.workerArguments,
            webPage: s.webPage ? s.namespace : nil
        )
        return try await LocalPool.withPool(options, logger: s.logger) { pool in
            var runner = PhaseRunner(
                control: pool.control,
                subscribers: s.subscribers,
                plainSubscribers: s.plainSubscribers,
                stalledSubscribers: s.stalledSubscribers,
                progress: s.progress,
                workers: workers,
                processes: { pool.runningProcesses + [("bench", getpid())] },
                logger: s.logger
            )
            runner.localPool = pool
            return try await body(runner)
        }
    }

    private func writeCharts(_ report: LoadReport) throws {
        guard let dir = settings.chartsDir else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let sweep = report.sweep, !sweep.isEmpty {
            var chart = SVGChart(
                title: "Throughput vs latency (\(settings.flow), \(settings.workers) workers, open loop)",
                xLabel: "achieved runs/s",
                yLabel: "submit→result latency, ms (log scale)",
                series: [
                    .init(name: "p50", points: sweep.map { ($0.jobsPerSecond, $0.p50Ms) }),
                    .init(name: "p99", points: sweep.map { ($0.jobsPerSecond, $0.p99Ms) }),
                ]
            )
            chart.logY = true
            try chart.render().write(toFile: "\(dir)/throughput-latency.svg", atomically: true, encoding: .utf8)
            note("chart written to \(dir)/throughput-latency.svg")
        }
        if let scaling = report.scaling, !scaling.isEmpty {
            let chart = SVGChart(
                title: "Scaling with worker processes (\(settings.flow), closed loop, \(settings.inFlight) in flight)",
                xLabel: "worker processes",
                yLabel: "runs/s",
                series: [.init(name: "runs/s", points: scaling.map { (Double($0.workers), $0.jobsPerSecond) })]
            )
            try chart.render().write(toFile: "\(dir)/scaling.svg", atomically: true, encoding: .utf8)
            note("chart written to \(dir)/scaling.svg")
        }
    }
}

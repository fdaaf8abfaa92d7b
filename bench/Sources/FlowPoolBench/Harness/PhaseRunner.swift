import FlowCore
import FlowPool
import Foundation
import Histogram
import Logging

/// Runs one phase against a pool: connects the driver and the subscribers, submits, watches, verifies.
struct PhaseRunner: Sendable {
    /// Kills a worker every `interval` seconds and starts a replacement (local pools only).
    struct Chaos: Sendable {
        var pool: LocalPool
        var interval: Double
    }

    var control: String
    var subscribers: Int
    /// Subscribers take plain two-frame events instead of namespace batches.
    var plainSubscribers = false
    /// Subscribers that stop reading once connected.
    var stalledSubscribers = 0
    var subscriberBuffer: Int = 1_000_000
    var progress: Bool
    var workers: Int?
    /// The processes whose CPU and memory are reported.
    var processes: @Sendable () -> [(name: String, pid: Int32)]
    var chaos: Chaos?
    /// The local pool, when the harness started one.
    var localPool: LocalPool?
    /// Seconds without any finished run after which the phase gives up waiting.
    var stallSeconds: Double = 30
    var logger: Logger

    /// Runs `plan` and returns its report.
    func run(_ plan: PhasePlan, label: String) async throws -> PhaseReport {
        let index = RunIndex(namespace: plan.namespace)
        let driver = try LoadDriver(control: control, plan: plan, index: index, logger: logger)
        let welcome: Welcome
        do {
            welcome = try await driver.hello(timeout: .seconds(15))
        } catch {
            _ = await driver.finish()
            throw error
        }
        let host = welcome.advertisedHost ?? CoordinatorAddress.host(of: CoordinatorAddress.controlEndpoint(control))
        let eventsEndpoint = CoordinatorAddress.endpoint(host: host, port: welcome.eventsOutPort)
        let subs: EventSubscribers
        do {
            subs = try await EventSubscribers.connect(
                count: subscribers,
                batched: !plainSubscribers,
                endpoint: eventsEndpoint,
                index: index,
                capacity: plan.runs ?? 65_536,
                receiveBuffer: subscriberBuffer,
                timeout: .seconds(15),
                logger: logger
            )
        } catch {
            _ = await driver.finish()
            throw error
        }
        var stalled: StalledSubscribers?
        if stalledSubscribers > 0 {
            do {
                stalled = try await StalledSubscribers.connect(
                    count: stalledSubscribers,
                    endpoint: eventsEndpoint,
                    topicPrefix: index.topicPrefix,
                    token: index.token,
                    timeout: .seconds(15),
                    logger: logger
                )
            } catch {
                _ = await driver.finish()
                await subs.finish()
                throw error
            }
        }
        let client = try await PoolClient.connect(
            to: control,
            timeout: .seconds(15),
            keys: BenchKeys.client,
            logger: logger
        )
        let before = try await client.status()
        let capacity = (before["workers"]?.arrayValue ?? []).reduce(0) { $0 + ($1["concurrency"]?.intValue ?? 0) }
        if case .closed(let n) = plan.model, n > welcome.maxQueue + capacity {
            let note =
                "note: \(n) runs in flight exceed the workers' \(capacity) slots plus the coordinator's queue limit (\(welcome.maxQueue)): expect pool_full "
                + "rejections; raise it with --coordinator-arg=--max-queue=N\n"
            FileHandle.standardError.write(Data(note.utf8))
        }
        var external: [(name: String, pid: Int32)] = []
        if localPool == nil {
            // Workers of an existing pool that run on this host can be measured too.
            for w in before["workers"]?.arrayValue ?? [] {
                guard w["host"]?.stringValue == Self.hostName, let pid = w["pid"]?.intValue else { continue }
                external.append(("worker \(w["id"]?.stringValue ?? "\(pid)")", Int32(pid)))
            }
        }
        let watched = processes() + external
        let cpuBefore = Dictionary(
            watched.map { ($0.pid, ProcessStats.read(pid: $0.pid)) },
            uniquingKeysWith: { a, _ in a }
        )
        let idleWorkerRSS = workerRSS(before)
        let wallStart = MonotonicClock.now()

        try await driver.start(seconds: plan.seconds)
        let chaosTask = chaos.map { chaos in
            Task { () -> Int in
                var kills = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int(chaos.interval * 1000)))
                    if Task.isCancelled { break }
                    if (try? await chaos.pool.killAndReplace(kills)) != nil { kills += 1 }
                }
                return kills
            }
        }

        // Watch: a progress line once a second, held runs and worker memory sampled from the status.
        var lastFinished = 0
        var lastProgressAt = MonotonicClock.now()
        var lastLineAt = lastProgressAt
        var lastLineFinished = 0
        var lastLineEvents = 0
        var peakHeld = 0
        var rssAtPeak = 0
        while !driver.isDone {
            try await Task.sleep(for: .milliseconds(100))
            let now = MonotonicClock.now()
            let finished = driver.finished
            if finished != lastFinished {
                lastFinished = finished
                lastProgressAt = now
            } else if MonotonicClock.seconds(from: lastProgressAt, to: now) > stallSeconds {
                logger.error("no run finished for \(Int(stallSeconds)) s; ending the phase")
                break
            }
            if now - lastLineAt >= 1_000_000_000 {
                let dt = MonotonicClock.seconds(from: lastLineAt, to: now)
                let events = subs.eventsReceived
                if let status = try? await client.status() {
                    let held = (status["workers"]?.arrayValue ?? []).reduce(0) { $0 + ($1["in_flight"]?.intValue ?? 0) }
                    if held > peakHeld {
                        peakHeld = held
                        rssAtPeak = workerRSS(status)
                    }
                }
                if progress {
                    let line = String(
                        format: "[%@] %5.1fs submitted %d done %d (%.0f/s) in flight %d events %d (%.0f/s)",
                        label,
                        MonotonicClock.seconds(from: wallStart, to: now),
                        driver.sent,
                        finished,
                        Double(finished - lastLineFinished) / dt,
                        driver.sent - finished,
                        events,
                        Double(events - lastLineEvents) / dt
                    )
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
                lastLineAt = now
                lastLineFinished = finished
                lastLineEvents = events
            }
        }
        await driver.stopSubmitting()
        chaosTask?.cancel()
        let kills = await chaosTask?.value

        // Let the subscribers catch up with the terminal events of every finished run.
        let expectedTerminals = driver.finished
        var lastEvents = -1
        var quietSince = MonotonicClock.now()
        // Slow subscribers may still be receiving: wait while events keep arriving (up to two minutes).
        let settleDeadline = MonotonicClock.now() + 120_000_000_000
        var stillArriving = false
        while subscribers > 0, subs.minTerminals < expectedTerminals {
            let events = subs.eventsReceived
            if events != lastEvents {
                lastEvents = events
                quietSince = MonotonicClock.now()
            } else if MonotonicClock.seconds(from: quietSince, to: MonotonicClock.now()) > 3 {
                break
            }
            if MonotonicClock.now() >= settleDeadline {
                stillArriving = true
                logger.warning(
                    "subscribers still receiving after two minutes; the missing tail is reported as undelivered"
                )
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }

        let after = try? await client.status()
        let live = processes() + external
        var figures: [PhaseReport.ProcessFigures] = []
        let wallEnd = MonotonicClock.now()
        let wall = MonotonicClock.seconds(from: wallStart, to: wallEnd)
        for p in live {
            guard let now = ProcessStats.read(pid: p.pid) else { continue }
            let cpu = now.cpuSeconds - ((cpuBefore[p.pid] ?? nil)?.cpuSeconds ?? 0)
            figures.append(
                .init(
                    name: p.name,
                    pid: p.pid,
                    cpuSeconds: cpu,
                    cpuPercent: wall > 0 ? cpu / wall * 100 : 0,
                    cpuMicrosecondsPerRun: cpu * 1e6 / Double(max(1, driver.finished)),
                    peakRssMib: Double(now.peakRSSBytes) / 1_048_576
                )
            )
        }
        await client.close()
        let ledger = await driver.finish()
        await subs.finish()
        await stalled?.close()

        return makeReport(
            plan: plan,
            label: label,
            ledger: ledger,
            subs: subs,
            before: before,
            after: after,
            figures: figures,
            stalls: driver.stalls,
            stillArriving: stillArriving,
            peakHeld: peakHeld,
            rssAtPeak: rssAtPeak,
            idleRSS: idleWorkerRSS,
            kills: kills
        )
    }

    /// This host's name, as workers report theirs.
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Resident memory of the workers that run on this host.
    private func workerRSS(_ status: JSONValue) -> Int {
        (status["workers"]?.arrayValue ?? []).reduce(0) { total, w in
            guard w["host"]?.stringValue == Self.hostName, let pid = w["pid"]?.intValue,
                let s = ProcessStats.read(pid: Int32(pid))
            else { return total }
            return total + s.rssBytes
        }
    }

    private func makeReport(
        plan: PhasePlan,
        label: String,
        ledger: DriverLedger,
        subs: EventSubscribers,
        before: JSONValue,
        after: JSONValue?,
        figures: [PhaseReport.ProcessFigures],
        stalls: Int,
        stillArriving: Bool,
        peakHeld: Int,
        rssAtPeak: Int,
        idleRSS: Int,
        kills: Int?
    ) -> PhaseReport {
        var first = LatencySummary.makeHistogram()
        var final = LatencySummary.makeHistogram()
        var result = LatencySummary.makeHistogram()
        let interval: Double
        let inFlight: Int?
        let offered: Double?
        switch plan.model {
        case .closed(let n):
            interval = 0
            inFlight = n
            offered = nil
        case .open(let r):
            interval = 1e9 / r
            inFlight = nil
            offered = r
        }
        let firstSlot = subs.slots.first?.ledger
        let highest: UInt64 = 600_000_000_000
        var runsLost = 0
        var redispatched = 0
        let count = min(ledger.sent, ledger.state.count)
        for i in 0..<count {
            let state = DriverLedger.RunState(rawValue: ledger.state[i]) ?? .unsent
            switch state {
            case .completed, .failed:
                break
            case .rejected, .unsent:
                continue
            case .sent, .accepted:
                runsLost += 1
                continue
            }
            if ledger.attempts[i] > 1 { redispatched += 1 }
            let base = interval > 0 ? ledger.firstSentAt + UInt64(Double(i) * interval) : ledger.sentAt[i]
            if ledger.resultAt[i] > base { _ = result.record(min(ledger.resultAt[i] - base, highest)) }
            if let s = firstSlot, i < s.firstAt.count {
                if s.firstAt[i] > base { _ = first.record(min(s.firstAt[i] - base, highest)) }
                if s.terminalAt[i] > base { _ = final.record(min(s.terminalAt[i] - base, highest)) }
            }
        }
        let seconds = MonotonicClock.seconds(from: ledger.firstSentAt, to: ledger.lastResultAt)
        let finishedRuns = ledger.completed + ledger.failed
        var subscriberReports: [PhaseReport.Subscriber] = []
        for slot in subs.slots {
            let l = slot.ledger
            var withoutTerminal = 0
            var extra = 0
            var tailLost = 0
            let receiveSeconds = MonotonicClock.seconds(from: ledger.firstSentAt, to: l.lastEventAt)
            for i in 0..<count {
                let s = ledger.state[i]
                guard s == DriverLedger.RunState.completed.rawValue || s == DriverLedger.RunState.failed.rawValue else {
                    continue
                }
                let terminals = i < l.terminals.count ? Int(l.terminals[i]) : 0
                if terminals == 0 {
                    withoutTerminal += 1
                    if let n = plan.eventsPerRun, s == DriverLedger.RunState.completed.rawValue {
                        let got = i < l.received.count ? Int(l.received[i]) : 0
                        tailLost += max(0, n - got)
                    }
                } else if terminals > 1 {
                    extra += 1
                }
            }
            subscriberReports.append(
                .init(
                    events: l.events,
                    eventsPerSecond: receiveSeconds > 0 ? Double(l.events) / receiveSeconds : 0,
                    seqGaps: l.gaps,
                    eventsLost: l.missingEvents + (stillArriving ? 0 : tailLost),
                    eventsUndelivered: stillArriving ? tailLost : 0,
                    duplicates: l.duplicates,
                    staleAttemptEvents: l.stale,
                    attemptRestarts: l.restarts,
                    runsWithoutTerminal: withoutTerminal,
                    runsWithExtraTerminals: extra,
                    malformed: l.malformed
                )
            )
        }
        func delta(_ key: String) -> Int {
            guard let after else { return 0 }
            return (after["counters"]?[key]?.intValue ?? 0) - (before["counters"]?[key]?.intValue ?? 0)
        }
        let coordinator = after.map { _ in
            PhaseReport.Coordinator(
                duplicateResultsSuppressed: delta("duplicate_results"),
                redispatches: delta("jobs_redispatched"),
                workersLost: delta("workers_lost"),
                leasesExpired: delta("leases_expired"),
                acksMissed: delta("acks_missed"),
                submitsRejectedFull: delta("submits_rejected_full"),
                eventsForwarded: delta("events_forwarded"),
                terminalsSynthesized: delta("terminals_synthesized"),
                resultsBatched: delta("results_batched"),
                resultBatches: delta("result_batches")
            )
        }
        var memoryPerRun: Double?
        if peakHeld >= 100, rssAtPeak > idleRSS {
            memoryPerRun = Double(rssAtPeak - idleRSS) / Double(peakHeld) / 1024
        }
        var report = PhaseReport(
            label: label,
            flow: plan.flow,
            namespace: plan.namespace,
            model: plan.model.description,
            inFlight: inFlight,
            offeredPerSecond: offered,
            workers: workers,
            subscriberCount: subs.slots.count,
            stalledSubscribers: stalledSubscribers > 0 ? stalledSubscribers : nil,
            submitted: ledger.sent,
            accepted: ledger.accepted,
            completed: ledger.completed,
            failed: ledger.failed,
            rejected: ledger.rejected,
            rejectedPoolFull: ledger.rejectedPoolFull,
            runsLost: runsLost,
            duplicateResultsAtClient: ledger.duplicateResults,
            wrongAnswers: ledger.wrongAnswers,
            redispatchedRuns: redispatched,
            pacerStalls: stalls,
            submitMessages: ledger.submitMessages > 0 ? ledger.submitMessages : nil,
            seconds: seconds,
            jobsPerSecond: seconds > 0 ? Double(finishedRuns) / seconds : 0,
            latencyFirstEvent: LatencySummary(first),
            latencyFinalEvent: LatencySummary(final),
            latencyResult: LatencySummary(result),
            latencyEmitToSubscriber: LatencySummary(firstSlot?.transit ?? LatencySummary.makeHistogram()),
            subscribers: subscriberReports,
            eventsLost: subscriberReports.reduce(0) { $0 + $1.eventsLost },
            coordinator: coordinator,
            processes: figures,
            peakRunsHeld: peakHeld > 0 ? peakHeld : nil,
            memoryPerRunKib: memoryPerRun,
            chaosKills: kills,
            rejectionSample: ledger.rejectionSample,
            failureSample: ledger.failureSample,
            failuresByCode: ledger.failuresByCode.isEmpty ? nil : ledger.failuresByCode
        )
        report.seal()
        return report
    }
}

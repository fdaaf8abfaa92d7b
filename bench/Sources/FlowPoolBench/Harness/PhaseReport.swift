/// Everything measured in one phase (one load level against one pool), as written to the JSON report.
struct PhaseReport: Sendable, Codable, Equatable {
    /// One external subscriber's view.
    struct Subscriber: Sendable, Codable, Equatable {
        var events: Int
        var eventsPerSecond: Double
        /// Places where `seq` jumped forward within an attempt.
        var seqGaps: Int
        /// Events missing in those gaps plus the missing tails of runs without a terminal event.
        var eventsLost: Int
        /// Events of runs whose terminal event had not arrived when the harness stopped waiting while the
        /// subscriber was still receiving (late, not known lost).
        var eventsUndelivered: Int
        var duplicates: Int
        var staleAttemptEvents: Int
        /// Runs whose attempt changed while they were watched (a redispatch seen live).
        var attemptRestarts: Int
        /// Completed or failed runs of which no terminal event arrived.
        var runsWithoutTerminal: Int
        /// Runs with more than one terminal event.
        var runsWithExtraTerminals: Int
        var malformed: Int
    }

    /// CPU and memory of one process during the phase.
    struct ProcessFigures: Sendable, Codable, Equatable {
        var name: String
        var pid: Int32
        var cpuSeconds: Double
        /// CPU seconds per wall second × 100 (200 % is both cores).
        var cpuPercent: Double
        /// CPU microseconds per finished run.
        var cpuMicrosecondsPerRun: Double
        var peakRssMib: Double
    }

    /// Counter differences from the coordinator's status, before and after the phase.
    struct Coordinator: Sendable, Codable, Equatable {
        var duplicateResultsSuppressed: Int
        var redispatches: Int
        var workersLost: Int
        var leasesExpired: Int
        var acksMissed: Int
        var submitsRejectedFull: Int
        var eventsForwarded: Int
        var terminalsSynthesized: Int
        /// Results that workers reported in `results` messages, and those messages.
        var resultsBatched: Int
        var resultBatches: Int
    }

    var label: String
    var flow: String
    var namespace: String
    var model: String
    var inFlight: Int?
    var offeredPerSecond: Double?
    var workers: Int?
    var subscriberCount: Int
    /// Subscribers that stopped reading once connected (`--stalled-subscribers`), if any.
    var stalledSubscribers: Int? = nil

    var submitted: Int
    var accepted: Int
    var completed: Int
    var failed: Int
    var rejected: Int
    var rejectedPoolFull: Int
    /// Accepted runs without a result when the phase ended.
    var runsLost: Int
    /// Results that arrived twice at the submitter.
    var duplicateResultsAtClient: Int
    var wrongAnswers: Int
    var redispatchedRuns: Int
    var pacerStalls: Int
    /// Closed loop: `submit` and `submit_batch` messages that carried the submitted runs (nil in the open loop).
    var submitMessages: Int?

    var seconds: Double
    var jobsPerSecond: Double
    /// Submit to the run's first event at the first subscriber.
    var latencyFirstEvent: LatencySummary
    /// Submit to the run's terminal event at the first subscriber.
    var latencyFinalEvent: LatencySummary
    /// Submit to the result at the submitter.
    var latencyResult: LatencySummary
    /// A worker emitting an event (its wall-clock `ts`) to the first subscriber receiving it.
    var latencyEmitToSubscriber: LatencySummary

    var subscribers: [Subscriber]
    var eventsLost: Int
    var coordinator: Coordinator?
    var processes: [ProcessFigures]
    /// Largest number of runs the workers held at once (sampled once a second from the status).
    var peakRunsHeld: Int?
    /// Worker memory growth per held run at that peak, in KiB.
    var memoryPerRunKib: Double?
    var chaosKills: Int?
    var rejectionSample: String?
    var failureSample: String?
    /// Failed runs by error code, when any failed.
    var failuresByCode: [String: Int]? = nil

    /// Whether every accepted run has exactly one (correct) result and every subscriber saw exactly one
    /// terminal event of it: no run lost, none doubled (set by ``seal()``).
    var runsVerified = false
    /// Whether every subscriber received every event of every run (set by ``seal()``).
    var eventsVerified = false
    /// Both of the above.
    var verified = false

    /// Computes the verdicts from the figures.
    mutating func seal() {
        runsVerified =
            runsLost == 0 && duplicateResultsAtClient == 0 && wrongAnswers == 0
            && subscribers.allSatisfy { $0.runsWithoutTerminal == 0 && $0.runsWithExtraTerminals == 0 }
        eventsVerified = eventsLost == 0
        verified = runsVerified && eventsVerified
    }
}

import FlowCore

/// Everything the coordinator counts, reported by `status`.
public struct CoordinatorCounters: Sendable, Hashable {
    public var jobsAccepted = 0
    public var jobsCompleted = 0
    public var jobsFailed = 0
    public var jobsRedispatched = 0
    /// Runs ended by `cancel`.
    public var jobsCancelled = 0
    /// Runs ended because their deadline passed.
    public var deadlinesExceeded = 0
    /// Submits naming a run that was active or kept finished: answered with that run.
    public var submitsExisting = 0
    /// Unfinished runs read back from the journal at start.
    public var jobsRecovered = 0
    /// Inputs a job's state does not take (an ack after the attempt was given up, say): ignored.
    public var lifecycleRefused = 0
    public var submitsRejectedFull = 0
    public var submitsRejectedDraining = 0
    public var duplicateResults = 0
    /// `results` messages from workers.
    public var resultBatches = 0
    /// Results that came in `results` messages (those that could be read).
    public var resultsBatched = 0
    public var workersLost = 0
    public var leasesExpired = 0
    public var acksMissed = 0
    public var eventsReceived = 0
    public var eventsForwarded = 0
    public var eventsStale = 0
    public var eventsUnknownRun = 0
    public var terminalsFromResult = 0
    public var terminalsSynthesized = 0
    public var resultsIncomplete = 0
    public var rejectedBadJSON = 0
    public var rejectedBadFrames = 0
    public var rejectedBadVersion = 0
    public var rejectedUnknownOp = 0
    public var rejectedBadEvents = 0
    public var rejectedOversize = 0
    /// Messages with more frames than any message of their socket, discarded before they were read.
    public var rejectedTooManyFrames = 0
    public var unroutableReplies = 0
    public var replayRequests = 0
    /// `stalled` reports: a worker alive while a flow step holds its socket loop.
    public var stallReports = 0
    /// Events, results, acks and `stalled` reports that did not come from the worker holding the run's current
    /// attempt (or from any registered worker): dropped, never stored or forwarded.
    public var rejectedForged = 0
    /// Credit a worker granted beyond its announced concurrency (less the jobs it holds), not counted.
    public var creditCapped = 0
    /// Replies to a control peer dropped because the replies already waiting for it reached its byte bound.
    public var repliesDropped = 0
    /// `replay` requests refused because the peer already had the most replays in progress.
    public var replaysRefused = 0
    /// Messages from a key whose role or namespaces do not allow them, or that is no longer in the allow-list
    /// (answered `forbidden` on the control endpoint, dropped elsewhere).
    public var rejectedForbidden = 0
    /// Subscriptions outside the subscriber key's namespaces: not applied.
    public var subscriptionsRefused = 0
    /// Workers dropped because their key left the allow-list (or lost the worker role); their runs went back.
    public var workersRevoked = 0

    public init() {}

    /// The counters as a JSON object, keys in snake case.
    public var json: JSONValue {
        [
            "jobs_accepted": .int(jobsAccepted), "jobs_completed": .int(jobsCompleted),
            "jobs_failed": .int(jobsFailed), "jobs_redispatched": .int(jobsRedispatched),
            "jobs_cancelled": .int(jobsCancelled), "deadlines_exceeded": .int(deadlinesExceeded),
            "submits_existing": .int(submitsExisting), "jobs_recovered": .int(jobsRecovered),
            "lifecycle_refused": .int(lifecycleRefused),
            "submits_rejected_full": .int(submitsRejectedFull),
            "submits_rejected_draining": .int(submitsRejectedDraining),
            "duplicate_results": .int(duplicateResults), "result_batches": .int(resultBatches),
            "results_batched": .int(resultsBatched), "workers_lost": .int(workersLost),
            "leases_expired": .int(leasesExpired), "acks_missed": .int(acksMissed),
            "events_received": .int(eventsReceived), "events_forwarded": .int(eventsForwarded),
            "events_stale": .int(eventsStale), "events_unknown_run": .int(eventsUnknownRun),
            "terminals_from_result": .int(terminalsFromResult), "terminals_synthesized": .int(terminalsSynthesized),
            "results_incomplete": .int(resultsIncomplete),
            "rejected_bad_json": .int(rejectedBadJSON), "rejected_bad_frames": .int(rejectedBadFrames),
            "rejected_bad_version": .int(rejectedBadVersion), "rejected_unknown_op": .int(rejectedUnknownOp),
            "rejected_bad_events": .int(rejectedBadEvents), "rejected_oversize": .int(rejectedOversize),
            "rejected_too_many_frames": .int(rejectedTooManyFrames),
            "unroutable_replies": .int(unroutableReplies), "replay_requests": .int(replayRequests),
            "stall_reports": .int(stallReports), "rejected_forged": .int(rejectedForged),
            "credit_capped": .int(creditCapped), "replies_dropped": .int(repliesDropped),
            "replays_refused": .int(replaysRefused), "rejected_forbidden": .int(rejectedForbidden),
            "subscriptions_refused": .int(subscriptionsRefused), "workers_revoked": .int(workersRevoked),
        ]
    }

    /// Total of all rejections of bad input.
    public var rejectedTotal: Int {
        rejectedBadJSON + rejectedBadFrames + rejectedBadVersion + rejectedUnknownOp + rejectedBadEvents
            + rejectedOversize + rejectedTooManyFrames + rejectedForged + rejectedForbidden
    }

    /// Counts a rejected message under the counter matching its error.
    mutating func countRejection(_ error: JSONWireError) {
        switch error.code {
        case .unsupportedVersion: rejectedBadVersion += 1
        case .unknownOp: rejectedUnknownOp += 1
        default: rejectedBadJSON += 1
        }
    }
}

import FlowCore

/// `status`: what the coordinator holds and has counted, and the subscribers' reports.
extension CoordinatorState {
    /// The body of a `status` reply.
    func statusBody(now: Double) -> JSONValue {
        let workerList: [JSONValue] = workers.entries.values.sorted { $0.id < $1.id }.map { w in
            [
                "id": .string(w.id), "host": .string(w.host), "pid": .int(w.pid), "concurrency": .int(w.concurrency),
                "credit": .int(w.credit), "leased": .int(w.jobs.count), "in_flight": .int(w.inFlight),
                "completed": .int(w.completed), "draining": .bool(w.availability == .draining),
                "flows": w.flows.map { .array($0.sorted().map(JSONValue.string)) } ?? .null,
                "last_seen_ms": .int(Int((now - w.lastSeen) * 1000)),
            ]
        }
        var byState: [String: Int] = ["queued": 0, "dispatched": 0, "running": 0, "result_held": 0]
        var queuedByFlow: [String: Int] = [:]
        for job in jobs.all {
            byState[job.state.name, default: 0] += 1
            if case .queued = job.state { queuedByFlow[job.flow, default: 0] += 1 }
        }
        // Waiting runs per flow, and whether a live worker offers the flow at all (else they wait for one).
        let waiting: [String: JSONValue] = queuedByFlow.mapValues { count in .int(count) }
        let unoffered = queuedByFlow.keys.filter { !workers.offered($0) }.sorted()
        return [
            "coordinator": .string(instanceId),
            "draining": .bool(draining),
            "workers": .array(workerList),
            "queue_depth": .int(byState["queued"] ?? 0),
            "in_flight": .int((byState["dispatched"] ?? 0) + (byState["running"] ?? 0)),
            "active_jobs": .int(jobs.count),
            "jobs_by_state": .object(byState.mapValues { .int($0) }),
            "queued_by_flow": .object(waiting),
            "flows_without_worker": .array(unoffered.map(JSONValue.string)),
            "active_input_bytes": .int(jobs.inputBytes),
            "results_kept": ["runs": .int(results.count), "bytes": .int(results.bytes)],
            "counters": counters.json,
            "subscribers": .array(
                subscriberReports.values.filter { now - $0.at <= Self.subscriberReportTTL }
                    .sorted { $0.report.subscriber < $1.report.subscriber }
                    .map { entry in
                        let r = entry.report
                        return [
                            "subscriber": .string(r.subscriber), "pattern": .string(r.pattern),
                            "host": .string(r.host), "pid": .int(r.pid), "received": .int(r.received),
                            "delivered": .int(r.delivered), "gaps": .int(r.gaps), "repaired": .int(r.repaired),
                            "lost": .int(r.lost), "buffer_drops": .int(r.bufferDrops),
                            "last_report_ms": .int(Int((now - entry.at) * 1000)),
                        ]
                    }
            ),
            "replay": [
                "runs": .int(replay.runs.count), "bytes": .int(replay.totalBytes),
                "evicted_runs": .int(replay.evictedRuns), "evicted_events": .int(replay.evictedEvents),
            ],
            "limits": [
                "max_queue": .int(config.maxQueue), "max_queue_bytes": .int(config.maxQueueBytes),
                "replay_bytes": .int(config.replayBytes), "result_retention": .int(config.resultRetention),
                "result_retention_bytes": .int(config.resultRetentionBytes),
                "subscriber_buffer_bytes": .int(config.subscriberBufferBytes),
                "subscriber_hwm": .int(config.subscriberHighWaterMark),
                "client_buffer_bytes": .int(config.clientBufferBytes),
                "client_buffers_total_bytes": .int(config.clientBuffersTotalBytes),
            ],
            "replays_in_progress_bytes": .int(replayCursors.totalBytes),
        ]
    }

    /// Records a subscriber's report; the newest 1,000 subscribers are kept, and `status` shows those heard
    /// from in the last ``subscriberReportTTL`` seconds.
    mutating func subscriberReport(_ report: SubscriberReport, now: Double) {
        if subscriberReports[report.subscriber] == nil, subscriberReports.count >= 1_000,
            let oldest = subscriberReports.min(by: { $0.value.at < $1.value.at })?.key
        {
            subscriberReports.removeValue(forKey: oldest)
        }
        subscriberReports[report.subscriber] = (report, now)
    }

    /// Seconds a subscriber's report stays in `status` without a newer one.
    static var subscriberReportTTL: Double { 30.0 }
}

import Metrics

/// Reports a worker's load through swift-metrics (a no-op until the process bootstraps a backend, as
/// `flowpool worker --metrics-port` does): gauges `flowpool_worker_in_flight` and
/// `flowpool_worker_event_backlog`, counters `flowpool_worker_runs_completed_total`,
/// `flowpool_worker_runs_failed_total` and `flowpool_worker_events_dropped_total`.
struct WorkerMetrics {
    private let inFlight = Gauge(label: "flowpool_worker_in_flight")
    private let backlog = Gauge(label: "flowpool_worker_event_backlog")
    private let completed = Counter(label: "flowpool_worker_runs_completed_total")
    private let failed = Counter(label: "flowpool_worker_runs_failed_total")
    private let dropped = Counter(label: "flowpool_worker_events_dropped_total")
    private var last = (completed: 0, failed: 0, dropped: 0)

    mutating func report(inFlight: Int, backlog: Int, completed: Int, failed: Int, dropped: Int) {
        self.inFlight.record(inFlight)
        self.backlog.record(backlog)
        if completed > last.completed { self.completed.increment(by: completed - last.completed) }
        if failed > last.failed { self.failed.increment(by: failed - last.failed) }
        if dropped > last.dropped { self.dropped.increment(by: dropped - last.dropped) }
        last = (max(last.completed, completed), max(last.failed, failed), max(last.dropped, dropped))
    }
}

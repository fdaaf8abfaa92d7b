import FlowCore
import Metrics

/// Reports the coordinator's counters and gauges through swift-metrics (a no-op until the process bootstraps
/// a backend, as `flowpool coordinator --metrics-port` does).
///
/// Fed once a second from the ``CoordinatorState/statusBody(now:)`` snapshot, so nothing is added to the
/// per-message path. Counters are named `flowpool_coordinator_<counter>_total` after the status counters
/// (docs/PROTOCOL.md, "status"); gauges are `flowpool_coordinator_queue_depth`, `…_in_flight`,
/// `…_active_jobs`, `…_workers`, `…_replay_runs` and `…_replay_bytes`, and `…_queued_runs{flow="…"}`, the runs
/// waiting per flow (the figure to scale the workers that offer a flow on).
struct CoordinatorMetrics {
    private var counters: [String: (counter: Counter, last: Int)] = [:]
    private var gauges: [String: Gauge] = [:]
    private var queuedByFlow: [String: Gauge] = [:]

    mutating func report(_ status: JSONValue) {
        if case .object(let values)? = status["counters"] {
            for (name, value) in values {
                guard let now = value.intValue else { continue }
                var entry = counters[name] ?? (Counter(label: "flowpool_coordinator_\(name)_total"), 0)
                if now > entry.last { entry.counter.increment(by: now - entry.last) }
                entry.last = max(entry.last, now)
                counters[name] = entry
            }
        }
        gauge("queue_depth", status["queue_depth"]?.intValue)
        gauge("in_flight", status["in_flight"]?.intValue)
        gauge("active_jobs", status["active_jobs"]?.intValue)
        gauge("workers", status["workers"]?.arrayValue?.count)
        gauge("replay_runs", status["replay"]?["runs"]?.intValue)
        gauge("replay_bytes", status["replay"]?["bytes"]?.intValue)
        // Flows seen before and without queued runs now read 0 (the number of flows is what submitters chose,
        // so only flows that had queued runs get a gauge).
        let queued = status["queued_by_flow"]?.objectValue ?? [:]
        for flow in Set(queuedByFlow.keys).union(queued.keys)
        where queuedByFlow.count < 1_000 || queuedByFlow[flow] != nil {
            let gauge =
                queuedByFlow[flow] ?? Gauge(label: "flowpool_coordinator_queued_runs", dimensions: [("flow", flow)])
            queuedByFlow[flow] = gauge
            gauge.record(queued[flow]?.intValue ?? 0)
        }
    }

    private mutating func gauge(_ name: String, _ value: Int?) {
        guard let value else { return }
        let gauge = gauges[name] ?? Gauge(label: "flowpool_coordinator_\(name)")
        gauges[name] = gauge
        gauge.record(value)
    }
}

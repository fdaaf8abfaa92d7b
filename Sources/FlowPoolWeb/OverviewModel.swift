import FlowCore
import FlowPool
import Synchronization

/// What the overview page shows: the coordinator's latest `status`, and runs/s and events/s over the last minutes
/// computed from its counters.
///
/// One poll a second for the whole web view, however many pages are open; each open page is sent the message
/// the last poll built.
final class OverviewModel: Sendable {
    /// Points of the rate series (one per poll: five minutes).
    static let seriesCapacity = 300
    /// Namespaces listed on the overview (the most recently seen).
    static let maxNamespaces = 100

    private let state: Mutex<State>

    private struct Sample {
        var time: Double
        var runsPerSecond: Double
        var eventsPerSecond: Double
    }

    private struct State {
        var series: [Sample] = []
        var lastCounters: (time: Double, runs: Int, events: Int)?
        var namespaces: [String] = []
        var flows: [String] = []
        var message: JSONValue = .object(["connected": false, "error": "connecting to the coordinator", "series": []])
        var version: UInt64 = 0
    }

    init() { state = Mutex(State()) }

    /// The message for overview pages, and its version (bumped by every poll).
    var current: (message: JSONValue, version: UInt64) { state.withLock { ($0.message, $0.version) } }

    /// The flows live workers offer (for the submit form), sorted.
    var flows: [String] { state.withLock { $0.flows } }

    /// Lists `namespace` on the overview (opened, submitted to, or followed by a subscriber).
    func noteNamespace(_ namespace: String) {
        state.withLock { s in
            if let index = s.namespaces.firstIndex(of: namespace) { s.namespaces.remove(at: index) }
            s.namespaces.append(namespace)
            if s.namespaces.count > Self.maxNamespaces { s.namespaces.removeFirst() }
        }
    }

    /// Takes one `status` body, read at `time` (seconds since 1970).
    func record(status body: JSONValue, at time: Double) {
        let counters = body["counters"]
        let count = { (key: String) in counters?[key]?.intValue ?? 0 }
        let runs = count("jobs_completed") + count("jobs_failed") + count("jobs_cancelled")
        let events = count("events_forwarded")
        var flows = Set<String>()
        for worker in body["workers"]?.arrayValue ?? [] {
            for flow in worker["flows"]?.arrayValue ?? [] { if let name = flow.stringValue { flows.insert(name) } }
        }
        for subscriber in body["subscribers"]?.arrayValue ?? [] {
            if let pattern = subscriber["pattern"]?.stringValue, !pattern.contains("*"),
                let namespace = pattern.split(separator: "/").first,
                PoolNames.problem(namespace: String(namespace)) == nil
            {
                noteNamespace(String(namespace))
            }
        }
        state.withLock { s in
            if let last = s.lastCounters, time > last.time, runs >= last.runs, events >= last.events {
                let seconds = time - last.time
                s.series.append(
                    Sample(
                        time: time,
                        runsPerSecond: Double(runs - last.runs) / seconds,
                        eventsPerSecond: Double(events - last.events) / seconds
                    )
                )
                if s.series.count > Self.seriesCapacity { s.series.removeFirst(s.series.count - Self.seriesCapacity) }
            }
            s.lastCounters = (time, runs, events)
            s.flows = flows.sorted()
            var message: [String: JSONValue] = ["connected": true, "error": .null]
            for key in [
                "coordinator", "draining", "queue_depth", "in_flight", "active_jobs", "workers", "counters",
                "subscribers", "queued_by_flow", "flows_without_worker", "jobs_by_state",
            ] {
                message[key] = body[key] ?? .null
            }
            message["series"] = .array(
                s.series.map {
                    .object([
                        "t": .double($0.time), "runs_per_s": .double(($0.runsPerSecond * 10).rounded() / 10),
                        "events_per_s": .double(($0.eventsPerSecond * 10).rounded() / 10),
                    ])
                }
            )
            message["namespaces"] = .array(s.namespaces.reversed().map(JSONValue.string))
            s.message = .object(message)
            s.version += 1
        }
    }

    /// Records that the coordinator could not be asked; the page says so and keeps the last figures.
    func recordFailure(_ problem: String) {
        state.withLock { s in
            guard case .object(var message) = s.message else { return }
            message["connected"] = false
            message["error"] = .string(problem)
            s.message = .object(message)
            s.lastCounters = nil
            s.version += 1
        }
    }
}

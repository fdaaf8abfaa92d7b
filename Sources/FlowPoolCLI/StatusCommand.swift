import ArgumentParser
import FlowCore
import FlowPool
import FlowPoolWorker
import Logging

/// `flowpool status`: workers, queue depth, in-flight runs, counters.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Show workers (alive, in flight, completed), queue depth, per-subscriber drops and drop/reject counters."
    )

    @Flag(help: "Print the raw status JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.makeLogger("flowpool.status")
        let pool = try await PoolClient.connect(
            to: connection.coordinator,
            timeout: connection.timeoutDuration,
            keys: try keys.load(logger: logger),
            logger: logger
        )
        let body = try await pool.status()
        await pool.close()
        if json {
            printFlushed(body.wireText)
            return
        }
        let workers = body["workers"]?.arrayValue ?? []
        printFlushed(
            "coordinator \(body["coordinator"]?.stringValue ?? "?")\(body["draining"]?.boolValue == true ? " (draining)" : "")"
        )
        printFlushed(
            "queue \(body["queue_depth"]?.intValue ?? 0)  in flight \(body["in_flight"]?.intValue ?? 0)  active runs \(body["active_jobs"]?.intValue ?? 0) (\((body["active_input_bytes"]?.intValue ?? 0) >> 10) KiB of input)"
        )
        if case .object(let byState)? = body["jobs_by_state"] {
            let states = ["queued", "dispatched", "running", "result_held"]
            printFlushed(
                "runs by state  " + states.map { "\($0) \(byState[$0]?.intValue ?? 0)" }.joined(separator: "  ")
            )
        }
        if case .object(let byFlow)? = body["queued_by_flow"], !byFlow.isEmpty {
            let unoffered = Set((body["flows_without_worker"]?.arrayValue ?? []).compactMap(\.stringValue))
            printFlushed("waiting runs by flow")
            for flow in byFlow.keys.sorted() {
                let reason = unoffered.contains(flow) ? "  (no live worker offers this flow)" : ""
                printFlushed("  \(flow) \(byFlow[flow]?.intValue ?? 0)\(reason)")
            }
        }
        printFlushed("workers \(workers.count)")
        for w in workers {
            let flows = w["flows"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? "any"
            printFlushed(
                "  \(w["id"]?.stringValue ?? "?") \(w["host"]?.stringValue ?? "")/\(w["pid"]?.intValue ?? 0)  concurrency \(w["concurrency"]?.intValue ?? 0)  in flight \(w["in_flight"]?.intValue ?? 0)  completed \(w["completed"]?.intValue ?? 0)  last seen \(w["last_seen_ms"]?.intValue ?? 0) ms\(w["draining"]?.boolValue == true ? "  draining" : "")  flows \(flows)"
            )
        }
        let subscribers = body["subscribers"]?.arrayValue ?? []
        printFlushed("subscribers \(subscribers.count) reporting")
        for r in subscribers {
            let n = { (key: String) in r[key]?.intValue ?? 0 }
            printFlushed(
                "  \(r["subscriber"]?.stringValue ?? "?") \(r["host"]?.stringValue ?? "")/\(n("pid"))  pattern \(r["pattern"]?.stringValue ?? "?")  received \(n("received"))  dropped \(n("buffer_drops")) locally, \(n("gaps")) missing (\(n("repaired")) repaired, \(n("lost")) lost)  reported \(n("last_report_ms")) ms ago"
            )
        }
        if case .object(let counters) = body["counters"] ?? .null {
            printFlushed("counters")
            for key in counters.keys.sorted() { printFlushed("  \(key) \(counters[key]?.intValue ?? 0)") }
        }
        for key in ["peer_disconnects", "handshake_failures"] {
            printFlushed("  \(key) \(body[key]?.intValue ?? 0)")
        }
        if let replay = body["replay"] {
            printFlushed(
                "replay runs \(replay["runs"]?.intValue ?? 0) bytes \(replay["bytes"]?.intValue ?? 0) evicted runs \(replay["evicted_runs"]?.intValue ?? 0)"
            )
        }
        if let kept = body["results_kept"] {
            printFlushed(
                "results kept \(kept["runs"]?.intValue ?? 0) (\((kept["bytes"]?.intValue ?? 0) >> 10) KiB)"
            )
        }
        if let limits = body["limits"] {
            let n = { (key: String) in limits[key]?.intValue ?? 0 }
            printFlushed(
                "limits queue \(n("max_queue")) runs, \(n("max_queue_bytes") >> 20) MiB of input  replay \(n("replay_bytes") >> 20) MiB  results \(n("result_retention")), \(n("result_retention_bytes") >> 20) MiB  per subscriber \(n("subscriber_hwm")) messages (buffer \(n("subscriber_buffer_bytes") >> 20) MiB)"
            )
        }
    }
}

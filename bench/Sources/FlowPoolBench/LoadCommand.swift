import ArgumentParser
import FlowCore
import FlowPool
import Foundation
import Logging

/// `flowpool-bench load` (also `flowpool bench load`): drives a pool and reports what it sustains.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load-test a FlowPool pool: throughput, latency percentiles, event loss, CPU and memory.",
        discussion: """
            By default starts its own coordinator and --workers worker processes on loopback (the `flowpool` \
            executable next to this one) and stops them afterwards; with --coordinator it drives an existing pool.

            Closed loop (default): --in-flight runs outstanding, the next submitted as soon as one finishes. \
            Open loop (--rate R): R submits per second whatever the pool does; latency counts from each run's \
            intended send time. --rate-fraction F first measures the closed loop, then offers F × that rate. \
            --sweep walks the offered rate upward until the pool saturates. --scaling 1,2,4 repeats the closed \
            loop with each worker count. --token-latency makes the workload LLM-shaped (agent4_llm). \
            --chaos-interval kills a worker with SIGKILL every N seconds and restarts it.

            Exit status: 0 when every accepted run has exactly one result and one terminal event at every \
            subscriber and no event was lost; 3 otherwise.
            """
    )

    // MARK: Pool

    @Option(help: "Drive an existing pool at HOST[:PORT] instead of starting one.")
    var coordinator: String?

    @Option(help: "The flowpool executable for the local pool (default: next to this executable).")
    var flowpool: String?

    @Option(help: "Worker processes of the local pool.")
    var workers: Int = 2

    @Option(help: "Runs each worker executes at once (worker --concurrency).")
    var concurrency: Int = 64

    @Option(help: "Extra argument for the local coordinator (repeatable), e.g. --coordinator-arg=--max-queue=50000.")
    var coordinatorArg: [String] = []

    @Option(help: "Extra argument for each local worker (repeatable).")
    var workerArg: [String] = []

    @Flag(
        help: """
            Give the local pool CURVE keys: a key set is made in a temporary directory, every socket of the \
            coordinator, the workers and this harness uses CURVE.
            """
    )
    var curve = false

    @Option(help: "For an existing pool with keys: this harness's secret key file (a client key for every namespace).")
    var keyFile: String?

    @Option(help: "For an existing pool with keys: the coordinator's public key file or key.")
    var coordinatorKey: String?

    // MARK: Workload

    @Option(help: "The registered flow to run (agent4, agent4_llm, sales_agent, stock_agent, ...).")
    var flow: String = "agent4"

    @Option(help: "The namespace of the runs' events.")
    var namespace: String = "sales_agent"

    @Option(help: "The flow's input as JSON.")
    var input: String = #"{"question":"what is the stock level of part 42?"}"#

    @Option(help: "Add a string of this many bytes to the input (key \"payload\").")
    var payloadBytes: Int = 0

    @Option(help: "Simulated model latency per token, e.g. 20ms (runs agent4_llm).")
    var tokenLatency: String?

    @Option(help: "With --token-latency: tokens generated per run.")
    var tokens: Int = 8

    @Option(help: "With --token-latency: tokens per chunk event.")
    var tokensPerChunk: Int = 1

    // MARK: Load

    @Option(help: "Closed loop: runs outstanding at once.")
    var inFlight: Int = 256

    @Flag(
        help: """
            Closed loop: submit each run with its own `submit` message. By default the runs that replace a \
            message's worth of results go together in one `submit_batch`.
            """
    )
    var singleSubmits = false

    @Option(help: "Open loop: runs submitted per second.")
    var rate: Double?

    @Option(help: "Measure the closed loop, then run the open loop at this fraction of its rate (e.g. 0.5).")
    var rateFraction: Double?

    @Option(help: "Runs per phase (default: --duration).")
    var runs: Int?

    @Option(help: "Seconds per phase when --runs is not given.")
    var duration: Double = 10

    @Option(help: "Seconds of unrecorded closed-loop load before measuring.")
    var warmup: Double = 2

    @Option(help: "External subscribers of the namespace, each checking every run's events.")
    var subscribers: Int = 1

    @Flag(help: "Subscribers take plain two-frame events rather than namespace batches.")
    var plainSubscribers = false

    @Option(
        help: """
            Subscribers of the namespace that stop reading once connected (stalled consumers); what they cost \
            the coordinator shows in its peak RSS.
            """
    )
    var stalledSubscribers: Int = 0

    @Flag(
        help: """
            Also run `flowpool web` against the local pool with one page of the namespace open for the whole load (a \
            server-sent-event stream read as a browser's EventSource reads it).
            """
    )
    var webPage = false

    @Flag(help: "Walk the offered rate upward (open loop) until the pool saturates.")
    var sweep = false

    @Option(help: "With --sweep: seconds per step.")
    var stepSeconds: Double = 3

    @Option(help: "Repeat the closed loop with each of these worker counts, e.g. 1,2,4 (local pool).")
    var scaling: String?

    @Option(help: "Chaos: kill a worker with SIGKILL every this many seconds and start a replacement.")
    var chaosInterval: Double?

    // MARK: Output

    @Option(help: "Messages of the raw libzmq baseline (0: skip it).")
    var baselineMessages: Int = 1_000_000

    @Option(help: "Message size of the raw libzmq baseline, bytes.")
    var baselineBytes: Int = 256

    @Option(
        help: """
            The hand-written pyzmq + PocketFlow pool to compare with (bench/python/run.sh): run with the same \
            workers, runs in flight and duration just before and just after the closed loop; the report gives \
            the pool's rate as a multiple of it.
            """
    )
    var pythonReference: String?

    @Option(help: "Write the full report as JSON to this file.")
    var jsonOut: String?

    @Option(help: "Write SVG charts (sweep, scaling) into this directory.")
    var chartsDir: String?

    @Flag(help: "No progress line on standard error.")
    var quiet = false

    @Flag(help: "A short smoke run: 2 workers, 4,000 runs, short warm-up and baseline (well under a minute).")
    var quick = false

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard stalledSubscribers >= 0 else { throw ValidationError("--stalled-subscribers must be at least 0") }
        guard workers >= 1, concurrency >= 1, inFlight >= 1, subscribers >= 0 else {
            throw ValidationError(
                "--workers, --concurrency and --in-flight must be at least 1, --subscribers at least 0"
            )
        }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        if let f = rateFraction, !(0.01...1).contains(f) { throw ValidationError("--rate-fraction must be in 0.01…1") }
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        guard duration > 0, warmup >= 0, stepSeconds > 0 else { throw ValidationError("durations must be positive") }
        do { _ = try JSONValue(wireText: input) } catch { throw ValidationError("--input is not valid JSON: \(error)") }
        if let tokenLatency, Self.milliseconds(tokenLatency) == nil {
            throw ValidationError("--token-latency takes a duration such as 20ms or 0.5s")
        }
        if let scaling, Self.workerCounts(scaling) == nil { throw ValidationError("--scaling takes counts like 1,2,4") }
        if coordinator != nil, scaling != nil || chaosInterval != nil {
            throw ValidationError("--scaling and --chaos-interval need the local pool (no --coordinator)")
        }
        if let c = chaosInterval, c < 0.2 { throw ValidationError("--chaos-interval must be at least 0.2 s") }
    }

    static func milliseconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t.hasSuffix("ms") { return Double(t.dropLast(2)) }
        if t.hasSuffix("us") { return Double(t.dropLast(2)).map { $0 / 1000 } }
        if t.hasSuffix("s") { return Double(t.dropLast(1)).map { $0 * 1000 } }
        return Double(t)
    }

    static func workerCounts(_ text: String) -> [Int]? {
        let counts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return counts.isEmpty || counts.contains { $0 < 1 } ? nil : counts
    }

    func run() async throws {
        // A key set made for the local pool (`--curve`) goes once the pool has stopped.
        defer { BenchKeys.removeLocalSets() }
        var settings = LoadSettings(self)
        settings.logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let report = try await LoadSession(settings: settings).run()
        if let jsonOut {
            try report.json().write(to: URL(fileURLWithPath: jsonOut))
            FileHandle.standardError.write(Data("report written to \(jsonOut)\n".utf8))
        }
        if !report.verified { throw ExitCode(3) }
    }
}

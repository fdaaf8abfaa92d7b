import FlowCore
import FlowPool
import FlowPoolWorkloads
import Logging

/// The resolved settings of a `load` invocation (`--quick` applied, the workload's input built).
struct LoadSettings: Sendable {
    var coordinator: String?
    var executable: String
    var workers: Int
    var concurrency: Int
    var coordinatorArguments: [String]
    var workerArguments: [String]
    /// The local pool has CURVE keys (`--curve`).
    var curve: Bool
    var flow: String
    var namespace: String
    var inputJSON: String
    var expectedAnswer: String?
    var eventsPerRun: Int?
    var inFlight: Int
    var rate: Double?
    var rateFraction: Double?
    var runs: Int?
    var seconds: Double
    var warmup: Double
    var subscribers: Int
    /// Subscribers take plain two-frame events instead of namespace batches.
    var plainSubscribers: Bool
    /// Subscribers that stop reading once connected.
    var stalledSubscribers: Int
    /// Run `flowpool web` with one namespace page open (local pool only).
    var webPage: Bool
    /// Closed loop: one `submit` per run instead of `submit_batch` refills.
    var singleSubmits: Bool
    var sweep: Bool
    var stepSeconds: Double
    var scaling: [Int]?
    var chaosInterval: Double?
    var baselineMessages: Int
    var baselineBytes: Int
    /// `bench/python/run.sh`, measured around the closed loop.
    var pythonReference: String?
    var chartsDir: String?
    var progress: Bool
    var command: String
    var logger = Logger(label: "flowpool.bench")

    init(_ c: LoadCommand) {
        coordinator = c.coordinator
        executable = c.flowpool ?? LocalPool.defaultExecutable()
        workers = c.workers
        concurrency = c.concurrency
        coordinatorArguments = c.coordinatorArg
        workerArguments = c.workerArg
        curve = c.curve
        if c.curve, c.coordinator == nil, let set = try? BenchKeys.makeLocalSet() {
            coordinatorArguments += set.coordinator
            workerArguments += set.worker
            BenchKeys.use(set.client)
        } else if let keyFile = c.keyFile, let server = c.coordinatorKey {
            BenchKeys.use(try? PoolKeys.load(keyFile: keyFile, coordinatorKey: server))
        }
        namespace = c.namespace
        inFlight = c.inFlight
        rate = c.rate
        rateFraction = c.rateFraction
        runs = c.runs
        seconds = c.duration
        warmup = c.warmup
        subscribers = c.subscribers
        plainSubscribers = c.plainSubscribers
        stalledSubscribers = c.stalledSubscribers
        webPage = c.webPage
        singleSubmits = c.singleSubmits
        sweep = c.sweep
        stepSeconds = c.stepSeconds
        scaling = c.scaling.flatMap(LoadCommand.workerCounts)
        chaosInterval = c.chaosInterval
        baselineMessages = c.baselineMessages
        baselineBytes = c.baselineBytes
        pythonReference = c.pythonReference
        chartsDir = c.chartsDir
        progress = !c.quiet
        command = CommandLine.arguments.joined(separator: " ")
        if c.quick {
            runs = c.runs ?? 4_000
            warmup = min(c.warmup, 0.5)
            baselineMessages = min(c.baselineMessages, 200_000)
            stepSeconds = min(c.stepSeconds, 1)
            seconds = min(c.duration, 3)
        }

        var input = (try? JSONValue(wireText: c.input)) ?? [:]
        if case .object(var o) = input {
            if c.payloadBytes > 0 { o["payload"] = .string(String(repeating: "x", count: c.payloadBytes)) }
            input = .object(o)
        }
        flow = c.flow
        if let latency = c.tokenLatency, let ms = LoadCommand.milliseconds(latency) {
            flow = LLMShapedAgent4.flowName
            if case .object(var o) = input {
                o["token_delay_ms"] = .double(ms)
                o["tokens"] = .int(c.tokens)
                o["tokens_per_chunk"] = .int(c.tokensPerChunk)
                input = .object(o)
            }
        }
        inputJSON = input.wireText
        switch flow {
        case Agent4.flowName:
            expectedAnswer = Agent4.expectedAnswer
            eventsPerRun = Agent4.eventsPerRun
        case LLMShapedAgent4.flowName:
            let tokens = c.tokenLatency == nil ? 8 : c.tokens
            let perChunk = c.tokenLatency == nil ? 1 : c.tokensPerChunk
            expectedAnswer = LLMShapedAgent4.expectedAnswer(tokens: tokens)
            eventsPerRun = LLMShapedAgent4.eventsPerRun(tokens: tokens, tokensPerChunk: perChunk)
        default:
            expectedAnswer = nil
            eventsPerRun = nil
        }
    }

    /// A phase plan with this workload.
    func plan(_ model: LoadModel, runs: Int?, seconds: Double?) -> PhasePlan {
        PhasePlan(
            flow: flow,
            namespace: namespace,
            inputJSON: inputJSON,
            model: model,
            runs: runs,
            seconds: runs == nil ? seconds : nil,
            expectedAnswer: expectedAnswer,
            eventsPerRun: eventsPerRun,
            batchSubmits: !singleSubmits
        )
    }

    /// Items through the coordinator per run: submit, accepted, job, ack, credit, result in, result out,
    /// the run's events in, and out once per subscriber. Events travel in batches, so this counts events,
    /// not ZeroMQ messages: compared with the raw message rate it shows what batching buys.
    var messagesPerRun: Int? { eventsPerRun.map { 7 + $0 * (1 + subscribers) } }
}

import ArgumentParser
import FlowCore
import FlowPool
import Logging
import ProcessSupervision
import ServiceLifecycle
import UnixSignals

extension WorkerConfiguration.Executor: ExpressibleByArgument {}

/// `flowpool worker`: runs flows for a coordinator.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker (long-running). SIGTERM drains: it takes nothing new, finishes what it holds, exits 0."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions

    @Option(help: "Runs executed at once.")
    var concurrency: Int = 32

    @Option(help: "Milliseconds between heartbeats.")
    var heartbeatMs: Int = 250

    @Option(
        help: ArgumentHelp(
            "Where runs execute: pool (all cores; for flows that compute for long) or loop (the worker's socket thread; less CPU per run for flows that compute briefly and await).",
            valueName: "pool|loop"
        )
    )
    var executor: WorkerConfiguration.Executor = .pool

    @Option(
        help: """
            MiB of encoded events that may wait to be sent to the coordinator before new ones are dropped (and \
            counted); the worker takes no new runs while a quarter of it waits.
            """
    )
    var eventQueueMb: Int = 256

    @Option(help: "This worker's id (default: random).")
    var workerId: String?

    @OptionGroup var metrics: MetricsOptions

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1…10000") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (1...(1 << 20)).contains(eventQueueMb) else {
            throw ValidationError("--event-queue-mb must be at least 1 (MiB of events waiting to be sent)")
        }
    }

    /// The flows this executable's workers can run, beyond ``FlowRegistry/shared``'s built-ins (`agent4`,
    /// `sleep`, `fail`). Add a flow with one line, e.g. `registry.register("sales_agent") { … }`.
    static func registerFlows(in registry: FlowRegistry) {
        AgentRegistration.register(in: registry)
    }

    func run() async throws {
        // Started by `flowpool demo` or the load harness: stop when that parent dies.
        try ParentDeathSignal.armFromEnvironment()
        // Message buffers come and go thousands of times a second: keep freed memory for the next ones.
        MallocThresholds.apply()
        let logger = log.makeLogger("flowpool.worker")
        let registry = FlowRegistry.shared
        Self.registerFlows(in: registry)
        let worker = Worker(
            configuration: WorkerConfiguration(
                coordinator: connection.coordinator,
                concurrency: concurrency,
                heartbeatInterval: .milliseconds(heartbeatMs),
                workerId: workerId,
                eventQueueBytes: eventQueueMb << 20,
                connectTimeout: connection.timeoutDuration,
                executor: executor,
                keys: try keys.load(logger: logger)
            ),
            registry: registry,
            logger: logger
        )
        let metricsEndpoint = try metrics.endpoint()
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: worker)] + (metricsEndpoint.map { [.init(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

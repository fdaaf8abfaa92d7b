import ArgumentParser
import FlowCore
import FlowPool
import Foundation
import Logging
import ProcessSupervision
import ServiceLifecycle
import Synchronization
import UnixSignals

extension WorkerConfiguration.Executor: ExpressibleByArgument {}

/// `flowpool worker`: runs flows for a coordinator — the same command in the `flowpool` executable and in an
/// executable of your own that registers its flows (``WorkerMain/run(arguments:flows:)``).
public struct WorkerCommand: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: displayedName.withLock { $0 },
            abstract:
                "Run a worker (long-running). SIGTERM drains: it takes nothing new, finishes what it holds, exits 0."
        )
    }

    /// The name usage and help show: `worker` under `flowpool`, the executable's own name when it is the `main` of
    /// an executable of one's own (``WorkerMain/run(arguments:flows:)``).
    static let displayedName = Mutex("worker")

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

    @Option(
        help: """
            Offer only these of the executable's flows, comma-separated (env FLOWPOOL_FLOWS; default: all it \
            registers). The coordinator sends a worker only runs of the flows it offers.
            """
    )
    var flows: String?

    private var offered: Set<String>? {
        (flows ?? Environment.string("FLOWPOOL_FLOWS")).map {
            Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
    }

    @OptionGroup var metrics: MetricsOptions

    @OptionGroup var log: LogOptions

    public init() {}

    public func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1…10000") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (1...(1 << 20)).contains(eventQueueMb) else {
            throw ValidationError("--event-queue-mb must be at least 1 (MiB of events waiting to be sent)")
        }
    }

    /// Registers the executable's flows in the worker's registry before it starts: set once, before the command
    /// is parsed, by ``WorkerMain/run(arguments:flows:)`` or by the `flowpool` executable.
    package static let registration = Mutex<(@Sendable (FlowRegistry) -> Void)?>(nil)

    public func run() async throws {
        // Started by `flowpool demo` or the load harness: stop when that parent dies.
        try ParentDeathSignal.armFromEnvironment()
        // Message buffers come and go thousands of times a second: keep freed memory for the next ones.
        MallocThresholds.apply()
        let logger = log.makeLogger("flowpool.worker")
        let registry = FlowRegistry.shared
        Self.registration.withLock { $0 }?(registry)
        if let offered {
            let unknown = offered.subtracting(registry.names).sorted()
            guard unknown.isEmpty else {
                throw ValidationError(
                    "--flows names \(unknown.joined(separator: ", ")), which this worker does not have (it has: \(registry.names.joined(separator: ", ")))"
                )
            }
            registry.keep(only: offered)
        }
        if registry.names.isEmpty {
            logger.warning("this worker has no flows registered: it will be offered no runs")
        }
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
        let health = worker.health
        metricsEndpoint?.probes.set(live: { health.liveness }, ready: { health.readiness })
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

/// The entry point of a worker executable of your own: registers your flows and runs the complete `flowpool
/// worker` command — its flags and environment variables (`--coordinator`, `--concurrency`, `--key-file`,
/// `--metrics-port`, …), logging, metrics, CURVE keys and the graceful drain on SIGTERM.
///
/// ```swift
/// import FlowPoolWorker
///
/// @main
/// struct SupportWorker {
///     static func main() async {
///         await WorkerMain.run { registry in
///             registry.register("support_agent") { SupportAgent.makeFlow() }
///         }
///     }
/// }
/// ```
///
/// To run a worker inside a service of your own instead, add a ``/FlowPool/Worker`` (a swift-service-lifecycle
/// `Service`) to its `ServiceGroup`.
public enum WorkerMain {
    /// Parses the command line as `flowpool worker` does, registers `flows` in ``/FlowPool/FlowRegistry/shared``
    /// and runs the worker until it has drained; exits the process with the command's status.
    public static func run(
        arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        flows: @escaping @Sendable (FlowRegistry) -> Void
    ) async -> Never {
        WorkerCommand.registration.withLock { $0 = flows }
        if let name = CommandLine.arguments.first?.split(separator: "/").last, !name.isEmpty {
            WorkerCommand.displayedName.withLock { $0 = String(name) }
        }
        do {
            let command = try WorkerCommand.parse(arguments)
            if Environment.string("FLOWPOOL_CHECK_ARGUMENTS") == "1" {
                printFlushed("arguments accepted: worker")
                WorkerCommand.exit()
            }
            try await command.run()
            WorkerCommand.exit()
        } catch {
            WorkerCommand.exit(withError: error)
        }
    }
}

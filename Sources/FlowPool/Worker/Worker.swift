import FlowCore
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// A pool worker: takes jobs from a coordinator, runs their flows, publishes their events, reports results.
///
/// A `Service`: all work happens in ``run()``. The worker asks the coordinator for jobs by granting credit,
/// one per free execution slot, and grants none while its outgoing event backlog is above
/// ``WorkerConfiguration/maxEventBacklog``, so a slow event path slows intake instead of losing events.
/// On graceful shutdown (SIGTERM) it grants no more credit and reports `draining`, finishes every job it
/// holds, flushes their events and results, says `bye` and returns.
///
/// ```swift
/// let worker = Worker(configuration: .init(coordinator: "10.0.0.5:5570"), logger: logger)
/// try await ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public struct Worker: Service {
    public let configuration: WorkerConfiguration
    let registry: FlowRegistry
    let logger: Logger
    /// Liveness and readiness, for a health endpoint.
    public let health = WorkerHealth()

    /// Creates a worker; nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Coordinator address, concurrency, heartbeat interval.
    ///   - registry: The flows it can run; ``FlowRegistry/shared`` by default.
    ///   - logger: Receives connection, job failure and shutdown messages.
    public init(configuration: WorkerConfiguration, registry: FlowRegistry = .shared, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
    }

    /// Connects, runs jobs until graceful shutdown or cancellation, drains, and returns.
    public func run() async throws {
        let config = configuration
        let workerId = config.workerId ?? Self.makeWorkerId()
        var logger = self.logger
        logger[metadataKey: "worker.id"] = "\(workerId)"
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fp-worker", batchSize: 512, logger: logger)
        loop.start()
        do {
            try await serve(workerId: workerId, context: context, loop: loop, logger: logger)
        } catch {
            await loop.shutdown()
            throw error
        }
        await loop.shutdown()
    }

    private static func makeWorkerId() -> String {
        var generator = SystemRandomNumberGenerator()
        let value: UInt64 = generator.next()
        return "w-" + String(value & 0xFF_FFFF_FFFF, radix: 36)
    }

    private func serve(workerId: String, context: Context, loop: SocketLoop, logger: Logger) async throws {
        let config = configuration
        let controlEndpoint = CoordinatorAddress.controlEndpoint(config.coordinator)
        @Sendable func connect() throws -> ControlConnection {
            try ControlConnection.open(
                context: context,
                loop: loop,
                endpoint: controlEndpoint,
                keys: config.keys,
                logger: logger
            )
        }
        // A worker may start before its coordinator: keep asking until it answers or the worker is stopped.
        let welcome = try await cancelWhenGracefulShutdown {
            var control = try connect()
            defer { control.close() }
            while true {
                do {
                    return try await PoolClient.hello(control, timeout: config.connectTimeout)
                } catch let error as PoolError where error.code == .timeout {
                    guard let problem = control.handshakeProblem else {
                        logger.warning("no answer from the coordinator at \(controlEndpoint) yet; retrying")
                        continue
                    }
                    logger.error("cannot register with the coordinator at \(controlEndpoint): \(problem); retrying")
                    // libzmq does not reconnect a socket whose handshake was refused: a new one tries again (the
                    // key may be in the allow-list by now).
                    control.close()
                    control = try connect()
                }
            }
        }
        let host = welcome.advertisedHost ?? CoordinatorAddress.host(of: controlEndpoint)
        let workersEndpoint = CoordinatorAddress.endpoint(host: host, port: welcome.workerPort)
        let eventsEndpoint = CoordinatorAddress.endpoint(host: host, port: welcome.eventsInPort)

        // Event publisher: XPUB with NODROP, so a slow coordinator pushes back instead of losing events.
        let publisher = try Socket(context, .xpub, linger: 1000)
        try config.keys?.secure(publisher)
        try publisher.set(.xpubNoDrop(true))
        try publisher.set(.sendHighWaterMark(100))
        try publisher.set(.reconnectInterval(100))
        try publisher.connect(eventsEndpoint)
        let (publisherHandle, subscriptions) = try loop.addStream(
            publisher,
            policy: .dropNewest(capacity: 64),
            maxFrames: 1,
            outboundCapacity: 4096
        )

        // Job channel: DEALER with this worker's id as routing identity.
        let dealer = try Socket(context, .dealer, linger: 1000)
        try config.keys?.secure(dealer)
        try dealer.set(.routingID(Array(workerId.utf8)))
        try dealer.set(.reconnectInterval(100))
        try dealer.set(.reconnectIntervalMax(1000))
        try dealer.connect(workersEndpoint)
        let (dealerHandle, commands) = try loop.addStream(
            dealer,
            policy: .backpressure(capacity: 4 * config.concurrency + 64),
            maxFrames: 4,
            outboundCapacity: 65_536
        )

        // Publish nothing before the coordinator's subscription has arrived: an XPUB drops what no one wants.
        _ = try await withTimeout(config.connectTimeout, what: "event-bus subscription from \(eventsEndpoint)") {
            var iterator = subscriptions.makeAsyncIterator()
            return await iterator.next() != nil
        }

        let runtime = WorkerRuntime(
            workerId: workerId,
            config: config,
            registry: registry,
            loop: loop,
            dealer: dealerHandle,
            publisher: publisherHandle,
            health: health,
            logger: logger
        )
        logger.info(
            "worker connected",
            metadata: [
                "workers": "\(workersEndpoint)", "events": "\(eventsEndpoint)", "concurrency": "\(config.concurrency)",
                "executor": "\(config.executor.rawValue)",
            ]
        )
        switch config.executor {
        case .pool:
            try await runtime.run(commands: commands)
        case .loop:
            // A flow step that computes for long holds the loop's heartbeat timer: a watchdog thread vouches.
            let watchdog = LoopWatchdog(
                context: context,
                endpoint: workersEndpoint,
                keys: config.keys,
                workerId: workerId,
                credential: { String(decoding: runtime.credential.withLock { $0 }, as: UTF8.self) },
                loop: loop,
                interval: config.heartbeatInterval,
                stallLimit: WorkerRuntime.stallLimit,
                logger: logger
            )
            do {
                // Child tasks inherit the preference: every run, its nodes and the worker's own tasks.
                try await withTaskExecutorPreference(loop.executor) {
                    try await runtime.run(commands: commands)
                }
            } catch {
                await watchdog.stop()
                throw error
            }
            await watchdog.stop()
        }
    }
}

import FlowCore
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The pool's coordinator: accepts runs, leases them to workers, relays their events, keeps replay history.
///
/// A `Service`: all work happens in ``run()``, on one owned I/O thread for its four sockets (see
/// docs/ARCHITECTURE.md). On graceful shutdown it stops accepting submits (`draining`), waits until every
/// accepted run has its result and terminal event (or ``CoordinatorConfiguration/drainTimeout`` passes),
/// then closes its sockets.
///
/// ```swift
/// let coordinator = Coordinator(configuration: .init(bindHost: "127.0.0.1"), logger: logger) { endpoints in
///     print("control endpoint: \(endpoints.control)")
/// }
/// let group = ServiceGroup(services: [coordinator], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct Coordinator: Service {
    public let configuration: CoordinatorConfiguration
    let logger: Logger
    let onReady: @Sendable (CoordinatorEndpoints) -> Void
    /// Liveness and readiness, for a health endpoint.
    public let health = CoordinatorHealth()
    /// Set by ``reloadAllowList()``, taken by the service's next tick.
    private let reloadRequested = ReloadFlag()

    private final class ReloadFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Reads the allow-list again (with keys): keys added may connect from now on; keys removed are refused from
    /// now on, on their open connections too (a removed worker's runs go back to the queue, subscribers are made
    /// to reconnect); a list that is not valid is refused and the current one kept, with an error in the log. The
    /// `flowpool coordinator` command calls it on SIGHUP. Safe from any thread; takes effect within 50 ms.
    public func reloadAllowList() {
        reloadRequested.value.store(true, ordering: .relaxed)
    }

    /// Creates a coordinator; nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Ports, limits and timeouts.
    ///   - logger: Receives joins, losses, rejections (rate-limited) and shutdown progress.
    ///   - onReady: Called once the sockets are bound, with the actual endpoints (ports resolved).
    public init(
        configuration: CoordinatorConfiguration,
        logger: Logger,
        onReady: @escaping @Sendable (CoordinatorEndpoints) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
    }

    /// Binds, serves until graceful shutdown or cancellation, drains, and closes.
    public func run() async throws {
        let config = configuration
        let instanceId = Self.makeInstanceId()
        var logger = self.logger
        logger[metadataKey: "coordinator.id"] = "\(instanceId)"
        let access = try config.keys.map { keys in
            do throws(AccessError) {
                return try AccessControl(path: keys.allowFile)
            } catch {
                throw CoordinatorStartError(message: error.message)
            }
        }
        if let access {
            logger.info("CURVE keys on every endpoint; allow-list \(access.path) has \(access.count) keys")
        }
        let journal = try config.dataDirectory.map { try Self.openJournal($0, config: config, logger: logger) }
        let engine = CoordinatorEngine(
            config: config,
            instanceId: instanceId,
            logger: logger,
            journal: journal?.0,
            access: access
        )
        if let recovered = journal?.1 {
            engine.state.withLock {
                $0.recover(recovered, now: WallClock.monotonic, wallMilliseconds: Int(WallClock.now * 1000))
            }
        }
        defer { journal?.0.close() }
        let context = try Context()
        // The ZAP handler answers the handshakes of every endpoint (each its own domain) from its own thread.
        let zap = try access.map { access in
            try ZAPHandler(context: context, logger: logger) { request in access.decide(request) }
        }
        let loop = try SocketLoop(context: context, name: "fp-coordinator", batchSize: 512, logger: logger)
        loop.start()
        do {
            let endpoints = try await Self.openSockets(engine: engine, loop: loop, context: context)
            logger.info(
                "coordinator ready",
                metadata: [
                    "control": "\(endpoints.control)", "workers": "\(endpoints.workers)",
                    "events_in": "\(endpoints.eventsIn)", "events_out": "\(endpoints.eventsOut)",
                    "subscriber_hwm": "\(config.subscriberHighWaterMark)",
                ]
            )
            health.markBound()
            onReady(endpoints)
            let shuttingDown = Atomic<Bool>(false)
            try await withGracefulShutdownHandler {
                var drainDeadline: Double?
                var metrics = CoordinatorMetrics()
                var ticks = 0
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(50))
                    try await loop.perform { io in engine.tick(io) }
                    health.markTick()
                    if let access, reloadRequested.value.exchange(false, ordering: .relaxed) {
                        await Self.reload(access, engine: engine, loop: loop)
                    }
                    if engine.subscribersToDrop.load(ordering: .relaxed),
                        await Self.dropSubscribers(engine: engine, loop: loop)
                    {
                        engine.subscribersToDrop.store(false, ordering: .relaxed)
                        engine.subscriptionResets.add(1, ordering: .relaxed)
                    }
                    if engine.subscriptionsOverflowed.load(ordering: .relaxed),
                        await Self.dropSubscribers(engine: engine, loop: loop)
                    {
                        engine.subscriptionsOverflowed.store(false, ordering: .relaxed)
                        engine.subscriptionResets.add(1, ordering: .relaxed)
                    }
                    // The loop discards (and logs) messages with more frames than it reads for a socket.
                    let discarded = loop.statistics.oversizedDiscarded
                    engine.state.withLock { s in s.count { $0.rejectedTooManyFrames = discarded } }
                    ticks += 1
                    if ticks % 20 == 0 {
                        metrics.report(engine.state.withLock { $0.statusBody(now: WallClock.monotonic) })
                    }
                    if shuttingDown.load(ordering: .relaxed) {
                        let now = WallClock.monotonic
                        if drainDeadline == nil {
                            health.markDraining()
                            let active = engine.state.withLock { state in
                                state.beginDrain()
                                return state.activeJobs
                            }
                            logger.info("draining: \(active) runs still active")
                            drainDeadline = now + config.drainTimeout.seconds
                        }
                        let active = engine.state.withLock { $0.activeJobs }
                        if active == 0 {
                            logger.info("drained; shutting down")
                            break
                        }
                        if let drainDeadline, now > drainDeadline {
                            logger.warning("drain timeout: \(active) runs still active; shutting down")
                            break
                        }
                    }
                }
            } onGracefulShutdown: {
                shuttingDown.store(true, ordering: .relaxed)
            }
            // Let replies and terminal events leave before the sockets close.
            try? await Task.sleep(for: .milliseconds(200))
        } catch is CancellationError {
            // Cancelled: close at once.
        } catch {
            await loop.shutdown()
            await zap?.stop()
            throw error
        }
        await loop.shutdown()
        await zap?.stop()
    }

    /// Reads the allow-list again and applies what changed: revoked workers are dropped; when a key that may
    /// subscribe was removed or changed, every subscriber connection is dropped so that each subscribes again
    /// under the new list (a connection's applied subscriptions cannot be taken back one by one).
    private static func reload(_ access: AccessControl, engine: CoordinatorEngine, loop: SocketLoop) async {
        let changes: (added: [AllowList.Entry], removed: [AllowList.Entry], changed: [AllowList.Entry])
        do {
            changes = try access.reload()
        } catch {
            engine.logger.error("allow-list not reloaded, the current one stays: \(error)")
            return
        }
        engine.logger.notice(
            "allow-list reloaded: \(access.count) keys",
            metadata: [
                "added": "\(changes.added.map(\.name))", "removed": "\(changes.removed.map(\.name))",
                "changed": "\(changes.changed.map(\.name))",
            ]
        )
        _ = try? await loop.perform { io in engine.revokeWorkers(access: access, io) }
        let readers = (changes.removed + changes.changed).contains { $0.role != .worker }
        if readers { engine.subscribersToDrop.store(true, ordering: .relaxed) }
    }

    /// Opens the journal in `directory` and reports what it held (and any tail it had to cut off).
    private static func openJournal(
        _ directory: String,
        config: CoordinatorConfiguration,
        logger: Logger
    ) throws -> (Journal, Journal.Recovered) {
        let (journal, recovered) = try Journal.open(directory: directory, sync: config.journalSync, logger: logger)
        if let problem = recovered.tailProblem {
            logger.error(
                "journal \(journal.path): cut off its last \(recovered.droppedBytes) bytes (\(problem)); the \(recovered.records) records before them are recovered"
            )
        }
        logger.info(
            "journal opened",
            metadata: [
                "path": "\(journal.path)", "fsync": "\(config.journalSync.rawValue)",
                "unfinished_runs": "\(recovered.unfinished.count)", "results": "\(recovered.results.count)",
            ]
        )
        return (journal, recovered)
    }

    private static func makeInstanceId() -> String {
        var generator = SystemRandomNumberGenerator()
        let value: UInt32 = generator.next()
        return String(value & 0x00FF_FFFF, radix: 36)
    }

    private static func endpoint(_ host: String, _ port: Int) -> String {
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "tcp://\(h):\(port == 0 ? "*" : String(port))"
    }

    /// Counts disconnects and failed handshakes of one socket.
    private static func addMonitor(
        _ monitor: sending Socket,
        name: String,
        loop: SocketLoop,
        engine: CoordinatorEngine
    ) throws {
        let throttle = LogThrottle()
        _ = try loop.add(monitor, maxFrames: 4, outboundCapacity: 1) { frames, _ in
            guard let event = MonitorEvent(frames: frames) else { return }
            if event.kind.contains(.disconnected) {
                engine.peerDisconnects.add(1, ordering: .relaxed)
                engine.logger.debug(
                    "peer disconnected from \(name) (closed, or dropped by libzmq for a frame over ZMQ_MAXMSGSIZE)"
                )
            } else {
                engine.handshakeFailures.add(1, ordering: .relaxed)
                if let held = throttle.admit() {
                    engine.logger.warning("handshake failed on \(name): \(event)\(LogThrottle.suffix(held))")
                }
            }
        }
    }

    /// Largest subscription message a subscriber may send on the events-out endpoint.
    static let maxSubscriptionBytes = 512

    /// The events-out XPUB, configured (not bound).
    private static func makeEventsOut(context: Context, config: CoordinatorConfiguration) throws -> Socket {
        let eventsOut = try Socket(context, .xpub)
        // A subscription is a topic prefix: no valid one is longer than 1 + 128 + 1 + 128 + 1 + 128 bytes. A longer
        // subscription message drops its sender's connection (libzmq keeps each subscription, byte by byte).
        try eventsOut.set(.maxMessageSize(Int64(Self.maxSubscriptionBytes)))
        try eventsOut.set(.sendHighWaterMark(Int32(clamping: config.subscriberHighWaterMark)))
        if config.keys != nil {
            // Each subscription is applied by the coordinator, when the subscriber's key covers it.
            try eventsOut.set(.xpubManual(true))
        } else {
            try eventsOut.set(.xpubVerbose(true))
        }
        return eventsOut
    }

    /// Drops every subscriber connection, with the subscriptions libzmq keeps for each: unbinds the events-out
    /// endpoint (which closes the connections accepted on it) and binds it again. Subscribers' SUB sockets
    /// reconnect and subscribe again by themselves.
    ///
    /// libzmq keeps every subscription of every connection and offers no way to refuse one or to drop a single
    /// connection, so this is the bound on the memory of subscriptions: it runs when subscribers hold more
    /// distinct prefixes than ``CoordinatorConfiguration/maxSubscriptions``. Returns false when the endpoint
    /// could not be bound again yet (the caller tries again on its next tick).
    static func dropSubscribers(engine: CoordinatorEngine, loop: SocketLoop) async -> Bool {
        guard let h = engine.handles.withLock({ $0 }) else { return true }
        let address = engine.eventsOutEndpoint.withLock { $0 }
        _ = try? await loop.perform { io in try io.socket(h.eventsOut)?.unbind(address) }
        // The listener closes on libzmq's I/O thread: the port may take a moment to be free again.
        for _ in 0..<50 {
            if (try? await loop.perform({ io in try io.socket(h.eventsOut)?.bind(address) })) != nil { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        engine.logger.error("could not bind the events-out endpoint \(address) again yet; trying again")
        return false
    }

    /// Creates, configures and binds the four sockets on the loop thread.
    private static func openSockets(
        engine: CoordinatorEngine,
        loop: SocketLoop,
        context: Context
    ) async throws
        -> CoordinatorEndpoints
    {
        let config = engine.config
        let maxSize = Int64(config.maxMessageBytes)

        let control = try Socket(context, .router)
        try control.set(.routerMandatory(true))
        try control.set(.maxMessageSize(maxSize))
        // Per peer: beyond it replies wait in the engine's outbox, bounded in bytes (a replay's batches are at most
        // 64 KiB, so a peer that reads nothing holds at most about 1 MiB of them here).
        try control.set(.sendHighWaterMark(CoordinatorConfiguration.controlHighWaterMark))
        try control.set(.receiveHighWaterMark(100_000))
        let controlMonitor = try control.monitor([.disconnected, .handshakeFailed])

        let workers = try Socket(context, .router)
        try workers.set(.routerMandatory(true))
        try workers.set(.maxMessageSize(maxSize))
        try workers.set(.sendHighWaterMark(10_000))
        try workers.set(.receiveHighWaterMark(10_000))
        let workersMonitor = try workers.monitor([.disconnected, .handshakeFailed])

        let eventsIn = try Socket(context, .xsub)
        try eventsIn.set(.maxMessageSize(maxSize))
        try eventsIn.set(.receiveHighWaterMark(100))
        let eventsInMonitor = try eventsIn.monitor([.disconnected, .handshakeFailed])

        let eventsOut = try makeEventsOut(context: context, config: config)
        let eventsOutMonitor = try eventsOut.monitor([.disconnected, .handshakeFailed])

        if let keys = config.keys?.keys {
            try control.makeCurveServer(keys, domain: PoolEndpoint.control.zapDomain)
            try workers.makeCurveServer(keys, domain: PoolEndpoint.workers.zapDomain)
            try eventsIn.makeCurveServer(keys, domain: PoolEndpoint.eventsIn.zapDomain)
            try eventsOut.makeCurveServer(keys, domain: PoolEndpoint.eventsOut.zapDomain)
        }
        let keyed = config.keys != nil

        let hControl = try loop.add(control, maxFrames: 8, outboundCapacity: 100_000, readsUserId: keyed) {
            frames,
            io in
            engine.handleControl(frames, io)
        }
        // The routing id, then at most a `results` message: its JSON frame and two frames per result.
        let workerFrames = 2 + 2 * WorkerResults.maxPerMessage
        let hWorkers = try loop.add(workers, maxFrames: workerFrames, outboundCapacity: 100_000, readsUserId: keyed) {
            frames,
            io in
            engine.handleWorker(frames, io)
        }
        let hEventsIn = try loop.add(eventsIn, maxFrames: 4, outboundCapacity: 16, readsUserId: keyed) { frames, io in
            engine.handleEventIn(frames, io)
        }
        let hEventsOut = try loop.add(eventsOut, maxFrames: 4, outboundCapacity: 1_000_000, readsUserId: keyed) {
            frames,
            io in
            engine.handleEventOut(frames, io)
        }
        loop.setRoundEnd { io in engine.roundEnd(io) }
        try addMonitor(controlMonitor, name: "control", loop: loop, engine: engine)
        try addMonitor(workersMonitor, name: "workers", loop: loop, engine: engine)
        try addMonitor(eventsInMonitor, name: "events_in", loop: loop, engine: engine)
        try addMonitor(eventsOutMonitor, name: "events_out", loop: loop, engine: engine)
        engine.handles.withLock {
            $0 = CoordinatorEngine.Handles(
                control: hControl,
                workers: hWorkers,
                eventsIn: hEventsIn,
                eventsOut: hEventsOut
            )
        }
        let host = config.bindHost
        let bound = try await loop.perform { io -> CoordinatorEndpoints in
            let c = try io.socket(hControl)!.bind(endpoint(host, config.controlPort))
            let w = try io.socket(hWorkers)!.bind(endpoint(host, config.workerPort))
            let i = try io.socket(hEventsIn)!.bind(endpoint(host, config.eventsInPort))
            let o = try io.socket(hEventsOut)!.bind(endpoint(host, config.eventsOutPort))
            // Subscribe the ingest socket to everything its publishers send.
            try io.socket(hEventsIn)!.send([1])
            return CoordinatorEndpoints(control: c, workers: w, eventsIn: i, eventsOut: o)
        }
        engine.eventsOutEndpoint.withLock { $0 = bound.eventsOut }
        engine.ports.withLock {
            $0 = (
                CoordinatorEndpoints.port(of: bound.workers) ?? 0,
                CoordinatorEndpoints.port(of: bound.eventsIn) ?? 0,
                CoordinatorEndpoints.port(of: bound.eventsOut) ?? 0
            )
        }
        return bound
    }
}

/// A coordinator that cannot start as configured (an unreadable or invalid allow-list, say).
public struct CoordinatorStartError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

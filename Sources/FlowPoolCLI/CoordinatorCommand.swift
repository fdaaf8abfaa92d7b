import ArgumentParser
import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Logging
import ProcessSupervision
import ServiceLifecycle
import UnixSignals

/// `flowpool coordinator`: accepts runs, leases them to workers, relays their events.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator (long-running). SIGTERM drains: no new runs, accepted ones finish.",
        discussion: """
            Binds four TCP ports on --bind-host: control (clients), workers, events-in (workers publish), \
            events-out (subscribers). Port 0 picks a free port; the chosen endpoints are printed at start-up \
            and, with --endpoints-file, written there as JSON. Workers and clients only need the control \
            endpoint: the others are sent in the welcome reply, with --advertise-host as their host.
            """
    )

    @Option(
        help: """
            Address to bind on (env FLOWPOOL_BIND_HOST). Loopback by default: any other address needs keys \
            (--key-file and --allow-file) or --insecure.
            """
    )
    var bindHost: String = Environment.string("FLOWPOOL_BIND_HOST") ?? "127.0.0.1"

    @Option(
        help: """
            The coordinator's secret key file (env FLOWPOOL_KEY_FILE; `flowpool keys new coordinator --role \
            coordinator`). With it every endpoint uses CURVE and accepts only the keys in --allow-file.
            """
    )
    var keyFile: String?

    @Option(
        help: """
            The allow-list of peer keys, one per line: NAME ROLE PUBLIC-KEY [NAMESPACES] (env FLOWPOOL_ALLOW_FILE; \
            `flowpool keys new … --allow-file` appends to it). SIGHUP reads it again.
            """
    )
    var allowFile: String?

    private var keyPath: String? { keyFile ?? Environment.string("FLOWPOOL_KEY_FILE") }
    private var allowPath: String? { allowFile ?? Environment.string("FLOWPOOL_ALLOW_FILE") }

    @Flag(
        help: """
            Bind an address other than loopback although peers are not authenticated (env FLOWPOOL_INSECURE=1): \
            whoever reaches the coordinator can submit runs, register as a worker and receive their inputs, \
            publish events and read every namespace. Only on a network you trust.
            """
    )
    var insecure = false

    /// `--insecure`, or `FLOWPOOL_INSECURE` set to 1 or true.
    private var allowsInsecure: Bool {
        insecure || ["1", "true", "yes"].contains(Environment.string("FLOWPOOL_INSECURE")?.lowercased() ?? "")
    }

    /// Whether `host` is a loopback address (only this machine reaches it).
    static func isLoopback(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    @Option(
        help:
            "Host that workers and clients should connect to for the other ports (env FLOWPOOL_ADVERTISE_HOST; default: the host they reached the control port on)."
    )
    var advertiseHost: String?

    @Option(help: "Control port, clients (env FLOWPOOL_CONTROL_PORT; 0 = any).")
    var controlPort: Int = Environment.int("FLOWPOOL_CONTROL_PORT") ?? 5570

    @Option(help: "Worker port (env FLOWPOOL_WORKER_PORT; 0 = any).")
    var workerPort: Int = Environment.int("FLOWPOOL_WORKER_PORT") ?? 5571

    @Option(help: "Event ingest port, workers publish here (env FLOWPOOL_EVENTS_IN_PORT; 0 = any).")
    var eventsInPort: Int = Environment.int("FLOWPOOL_EVENTS_IN_PORT") ?? 5572

    @Option(help: "Event publish port, subscribers connect here (env FLOWPOOL_EVENTS_OUT_PORT; 0 = any).")
    var eventsOutPort: Int = Environment.int("FLOWPOOL_EVENTS_OUT_PORT") ?? 5573

    @Option(help: "Accepted runs waiting for a worker before submits are refused with pool_full.")
    var maxQueue: Int = 10_000

    @Option(
        help: """
            MiB of input held at most for accepted runs that have not finished (queued or running) before \
            submits are refused with pool_full.
            """
    )
    var maxQueueMb: Int = 256

    @Option(help: "Attempts per run before it fails with attempts_exhausted.")
    var maxAttempts: Int = 3

    @Option(help: "Milliseconds without a heartbeat after which a worker is dead and its runs are redispatched.")
    var heartbeatTimeoutMs: Int = 2000

    @Option(help: "Milliseconds a dispatched run may wait for the worker's ack.")
    var ackTimeoutMs: Int = 5000

    @Option(help: "Milliseconds an attempt may run before it is dispatched again.")
    var leaseTimeoutMs: Int = 60_000

    @Option(help: "Replay buffer budget in MiB.")
    var replayMb: Int = 256

    @Option(help: "MiB of finished results kept for get_result (at most 100,000 results); the oldest go first.")
    var resultRetentionMb: Int = 64

    @Option(help: "Largest message accepted on any socket, in bytes (ZMQ_MAXMSGSIZE).")
    var maxMessageBytes: Int = 4 << 20

    @Option(
        help: """
            Memory, in MiB, the coordinator spends at most on one subscriber that reads too slowly; beyond it \
            that subscriber misses events (and can repair them from replay).
            """
    )
    var subscriberBufferMb: Int = 64

    @Option(
        help: """
            Messages queued per subscriber before it misses events, overriding --subscriber-buffer-mb \
            (default: that buffer divided by the largest event batch, 32 KiB).
            """
    )
    var subscriberHwm: Int?

    @Option(
        help: """
            Memory, in MiB, the coordinator holds at most for one control or worker peer that does not read its \
            replies (beyond what its pipe holds): further replies to it are dropped and counted, and its replays \
            are refused with `busy`. All peers together: 16 times this.
            """
    )
    var clientBufferMb: Int = 16

    @Option(
        help: """
            Distinct topic prefixes all subscribers may hold together (each at most 512 bytes). Beyond it every \
            subscriber connection is dropped; subscribers reconnect and subscribe again by themselves.
            """
    )
    var maxSubscriptions: Int = 10_000

    @Option(
        parsing: .unconditional,
        help: """
            Nice value of the coordinator's threads, -20…19 (env FLOWPOOL_COORDINATOR_NICE). Below 0 the \
            coordinator, which every run and event passes through, is not held up by workers or other \
            programs sharing its CPUs; that needs CAP_SYS_NICE or a RLIMIT_NICE allowing it, and without \
            either the coordinator says so at start-up and keeps the nice value it was started with.
            """
    )
    var nice: Int = Environment.int("FLOWPOOL_COORDINATOR_NICE") ?? -10

    @Option(help: "Seconds a draining coordinator waits for accepted runs.")
    var drainTimeout: Double = 30

    @Option(help: "Write the bound endpoints as JSON to this file once ready.")
    var endpointsFile: String?

    @Option(
        help: """
            Directory of the journal (env FLOWPOOL_DATA_DIR): accepted runs and results are recorded there before \
            they are acknowledged and read back on start, so a restart loses no accepted run. Without it, a \
            restart forgets every run.
            """
    )
    var dataDir: String?

    /// `--data-dir`, else `FLOWPOOL_DATA_DIR`.
    private var dataDirectory: String? { dataDir ?? Environment.string("FLOWPOOL_DATA_DIR") }

    @Option(
        help: """
            When journal writes are forced to the disk (env FLOWPOOL_FSYNC): always (before each reply that \
            depends on them), interval (every 100 ms) or never. A process crash loses nothing acknowledged with \
            any of them; a power loss up to 100 ms with interval, what the kernel had not written with never.
            """
    )
    var fsync: String = Environment.string("FLOWPOOL_FSYNC") ?? JournalSync.interval.rawValue

    @OptionGroup var metrics: MetricsOptions

    @OptionGroup var log: LogOptions

    func validate() throws {
        switch (keyPath, allowPath) {
        case (nil, nil), (.some, .some): break
        case (.some, nil):
            throw ValidationError(
                "--key-file needs --allow-file (FLOWPOOL_ALLOW_FILE): the keys of the peers that may connect"
            )
        case (nil, .some):
            throw ValidationError(
                "--allow-file needs --key-file (FLOWPOOL_KEY_FILE): the coordinator's own secret key file"
            )
        }
        if !Self.isLoopback(bindHost), !allowsInsecure, keyPath == nil {
            throw ValidationError(
                """
                --bind-host \(bindHost) without keys would let anyone who reaches this machine submit runs, register \
                as a worker (and receive other people's inputs), publish events and read every namespace. Give the \
                coordinator keys (--key-file and --allow-file, see `flowpool keys new`), bind loopback (the default), \
                or pass --insecure (FLOWPOOL_INSECURE=1) on a network you trust.
                """
            )
        }
        for (name, port) in [
            ("control", controlPort), ("worker", workerPort), ("events-in", eventsInPort),
            ("events-out", eventsOutPort),
        ] where !(0...65535).contains(port) {
            throw ValidationError("--\(name)-port must be 0…65535")
        }
        guard maxQueue > 0, maxAttempts > 0 else { throw ValidationError("--max-queue and --max-attempts must be > 0") }
        guard resultRetentionMb > 0 else {
            throw ValidationError("--result-retention-mb must be at least 1 (MiB of finished results)")
        }
        guard maxQueueMb > 0 else { throw ValidationError("--max-queue-mb must be at least 1 (MiB of held inputs)") }
        guard heartbeatTimeoutMs > 0, ackTimeoutMs > 0, leaseTimeoutMs > 0 else {
            throw ValidationError("timeouts must be > 0")
        }
        guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes must be at least 1024") }
        guard JournalSync(rawValue: fsync) != nil else {
            throw ValidationError("--fsync must be always, interval or never (got \(fsync))")
        }
        if let dataDir, dataDir.isEmpty { throw ValidationError("--data-dir must not be empty") }
        guard maxSubscriptions > 0 else { throw ValidationError("--max-subscriptions must be > 0") }
        guard clientBufferMb > 0 else { throw ValidationError("--client-buffer-mb must be at least 1 (MiB per peer)") }
        guard subscriberBufferMb > 0 else {
            throw ValidationError("--subscriber-buffer-mb must be at least 1 (MiB per subscriber)")
        }
        guard ProcessPriority.range.contains(nice) else {
            throw ValidationError("--nice must be between -20 and 19 (got \(nice))")
        }
        if let subscriberHwm, subscriberHwm <= 0 {
            throw ValidationError(
                "--subscriber-hwm must be > 0 (messages per subscriber); leave it out to use --subscriber-buffer-mb"
            )
        }
    }

    func run() async throws {
        // Started by `flowpool demo` or the load harness: stop when that parent dies.
        try ParentDeathSignal.armFromEnvironment()
        // Message buffers come and go thousands of times a second: keep freed memory for the next ones.
        MallocThresholds.apply()
        let logger = log.makeLogger("flowpool.coordinator")
        var keys: CoordinatorKeys?
        if let keyPath, let allowPath {
            do {
                keys = CoordinatorKeys(keys: try CertificateFile.loadKeyPair(path: keyPath), allowFile: allowPath)
            } catch {
                throw ValidationError("\(error)")
            }
            if let warning = CertificateFile.permissionWarning(path: keyPath) { logger.warning("\(warning)") }
        }
        if !Self.isLoopback(bindHost), keys == nil {
            logger.warning(
                "INSECURE: bound to \(bindHost) without authentication (--insecure): anyone who reaches this host can submit runs, act as a worker, publish events and read every namespace"
            )
        }
        // Before the coordinator starts its threads, so that they all inherit it.
        let priority: String
        let nice = Int32(self.nice)
        var niceSet = false
        do {
            try ProcessPriority.setNice(nice)
            priority = "nice \(nice)"
            niceSet = true
        } catch {
            priority = "nice \(ProcessPriority.currentNice), not \(nice) (\(error); --nice=0 stops trying)"
            logger.warning("could not set the coordinator's nice value to \(nice): \(error)")
        }
        let configuration = CoordinatorConfiguration(
            bindHost: bindHost,
            advertisedHost: advertiseHost ?? Environment.string("FLOWPOOL_ADVERTISE_HOST"),
            controlPort: controlPort,
            workerPort: workerPort,
            eventsInPort: eventsInPort,
            eventsOutPort: eventsOutPort,
            maxQueue: maxQueue,
            maxQueueBytes: maxQueueMb << 20,
            maxAttempts: maxAttempts,
            heartbeatTimeout: .milliseconds(heartbeatTimeoutMs),
            ackTimeout: .milliseconds(ackTimeoutMs),
            leaseTimeout: .milliseconds(leaseTimeoutMs),
            replayBytes: replayMb << 20,
            resultRetentionBytes: resultRetentionMb << 20,
            maxMessageBytes: maxMessageBytes,
            subscriberBufferBytes: subscriberBufferMb << 20,
            subscriberHighWaterMark: subscriberHwm,
            drainTimeout: .milliseconds(Int(drainTimeout * 1000)),
            clientBufferBytes: clientBufferMb << 20,
            clientBuffersTotalBytes: clientBufferMb << 24,
            maxSubscriptions: maxSubscriptions,
            dataDirectory: dataDirectory,
            journalSync: JournalSync(rawValue: fsync) ?? .interval,
            keys: keys
        )
        let endpointsFile = self.endpointsFile
        let metricsEndpoint = try metrics.endpoint()
        let metricsField = metricsEndpoint.map { ",\"metrics_port\":\($0.port)" } ?? ""
        let coordinator = Coordinator(configuration: configuration, logger: logger) { [niceSet] endpoints in
            // Again now that its threads run: a thread started by one of libdispatch's (whose nice value
            // libdispatch may have reset) did not inherit it.
            if niceSet { _ = try? ProcessPriority.setNice(nice) }
            printFlushed("control    \(endpoints.control)")
            printFlushed("workers    \(endpoints.workers)")
            printFlushed("events-in  \(endpoints.eventsIn)")
            printFlushed("events-out \(endpoints.eventsOut)")
            printFlushed(
                "limits     queue \(configuration.maxQueue) runs / \(configuration.maxQueueBytes >> 20) MiB of input, "
                    + "replay \(configuration.replayBytes >> 20) MiB, results \(configuration.resultRetention) / "
                    + "\(configuration.resultRetentionBytes >> 20) MiB, per subscriber "
                    + "\(configuration.subscriberHighWaterMark) messages (\(configuration.subscriberBufferBytes >> 20) MiB), "
                    + "per peer \(configuration.clientBufferBytes >> 20) MiB of replies"
            )
            printFlushed("priority   \(priority)")
            printFlushed(
                "keys       "
                    + (configuration.keys.map {
                        "CURVE on every endpoint, allow-list \($0.allowFile) (SIGHUP reloads it)"
                    }
                        ?? "none: no authentication (loopback only unless --insecure)")
            )
            printFlushed(
                "journal    "
                    + (configuration.dataDirectory.map {
                        "\($0)/journal.log, fsync \(configuration.journalSync.rawValue)"
                    }
                        ?? "none (--data-dir): a restart forgets every run")
            )
            if let endpointsFile {
                let json = """
                    {"control":"\(endpoints.control)","workers":"\(endpoints.workers)",\
                    "events_in":"\(endpoints.eventsIn)","events_out":"\(endpoints.eventsOut)","pid":\(getpid())\(metricsField)}
                    """
                let tmp = endpointsFile + ".tmp"
                _ = FileManager.default.createFile(atPath: tmp, contents: Data(json.utf8))
                _ = rename(tmp, endpointsFile)
            }
        }
        let health = coordinator.health
        metricsEndpoint?.probes.set(live: { health.liveness }, ready: { health.readiness })
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: coordinator)] + (metricsEndpoint.map { [.init(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        // SIGHUP: read the allow-list again.
        let reloads = Task {
            guard configuration.keys != nil else { return }
            for await _ in await UnixSignalsSequence(trapping: .sighup) { coordinator.reloadAllowList() }
        }
        defer { reloads.cancel() }
        try await group.run()
    }
}

/// How a ``Worker`` reaches its coordinator and how much it takes on.
public struct WorkerConfiguration: Sendable {
    /// Where a worker's runs execute.
    public enum Executor: String, Sendable, CaseIterable {
        /// Swift's global cooperative pool, on all cores. Suits flows that compute for long: the worker's
        /// sockets and heartbeats keep their own thread however busy the flows are.
        case pool
        /// The worker's socket-loop thread, between its polls: runs, their events and results, and the
        /// sockets share one thread, with no thread hop or wake-up between them. Suits flows that compute
        /// briefly and then await (model calls, tools over the network); a node that computes for long holds
        /// up the worker's other runs and sockets (a watchdog thread keeps reporting the worker alive, for up
        /// to 10 s of one step), and the worker uses one core.
        case loop
    }

    /// The coordinator's control endpoint: `tcp://host:port`, `host:port` or `host` (port 5570).
    public var coordinator: String
    /// Runs executed at once.
    public var concurrency: Int
    /// How often the worker tells the coordinator it is alive.
    public var heartbeatInterval: Duration
    /// This worker's id (its routing identity); random when nil.
    public var workerId: String?
    /// No new jobs are requested while more than this many events wait to be sent.
    public var maxEventBacklog: Int
    /// Events that may wait to be sent before new ones are dropped (and counted).
    public var eventQueueCapacity: Int
    /// Bytes of encoded events that may wait to be sent before new ones are dropped (and counted); no new jobs
    /// are requested while more than a quarter of it waits.
    public var eventQueueBytes: Int
    /// How long to wait for the coordinator's `welcome` before asking again (the worker keeps asking until it
    /// is answered or stopped).
    public var connectTimeout: Duration
    /// Where runs execute.
    public var executor: Executor
    /// The CURVE keys of every socket to the coordinator (a `worker` key), when the pool has keys.
    public var keys: PoolKeys?

    public init(
        coordinator: String,
        concurrency: Int = 32,
        heartbeatInterval: Duration = .milliseconds(250),
        workerId: String? = nil,
        maxEventBacklog: Int = 4000,
        eventQueueCapacity: Int = 1_000_000,
        eventQueueBytes: Int = 256 << 20,
        connectTimeout: Duration = .seconds(30),
        executor: Executor = .pool,
        keys: PoolKeys? = nil
    ) {
        self.keys = keys
        self.coordinator = coordinator
        self.concurrency = concurrency
        self.heartbeatInterval = heartbeatInterval
        self.workerId = workerId
        self.maxEventBacklog = maxEventBacklog
        self.eventQueueCapacity = eventQueueCapacity
        self.eventQueueBytes = eventQueueBytes
        self.connectTimeout = connectTimeout
        self.executor = executor
    }
}

/// Parsing of coordinator addresses given by users.
public enum CoordinatorAddress {
    /// The default control port.
    public static let defaultPort = 5570

    /// Normalises `host`, `host:port` or `tcp://host:port` to `tcp://host:port`.
    public static func controlEndpoint(_ address: String) -> String {
        var rest = address
        if rest.hasPrefix("tcp://") { rest.removeFirst(6) }
        if rest.hasPrefix("[") {
            // [v6]:port or [v6]
            if rest.contains("]:") { return "tcp://\(rest)" }
            return "tcp://\(rest):\(defaultPort)"
        }
        let colons = rest.filter { $0 == ":" }.count
        if colons == 1 { return "tcp://\(rest)" }
        if colons > 1 { return "tcp://[\(rest)]:\(defaultPort)" }
        return "tcp://\(rest):\(defaultPort)"
    }

    /// The host part of a `tcp://host:port` endpoint (brackets kept for IPv6).
    public static func host(of endpoint: String) -> String {
        var rest = endpoint
        if rest.hasPrefix("tcp://") { rest.removeFirst(6) }
        if let colon = rest.lastIndex(of: ":") { return String(rest[..<colon]) }
        return rest
    }

    /// `tcp://host:port` for another port of the same coordinator.
    public static func endpoint(host: String, port: Int) -> String {
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "tcp://\(h):\(port)"
    }
}

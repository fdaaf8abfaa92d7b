/// How a ``Coordinator`` binds, advertises and bounds itself.
public struct CoordinatorConfiguration: Sendable {
    /// Address the sockets bind on (`127.0.0.1` by default; `0.0.0.0`, an interface address, `*`). Without
    /// ``keys`` the pool does not authenticate its peers: bind beyond loopback only on a network you trust.
    public var bindHost: String
    /// CURVE keys: the coordinator's key pair and its allow-list. With them every endpoint is a CURVE server that
    /// accepts only the keys in the list, each in its role and namespaces (docs/PROTOCOL.md, "Security"). Without
    /// them (nil) anyone who reaches the endpoints may use them.
    public var keys: CoordinatorKeys?
    /// Host clients and workers should use for the other ports (sent in `welcome`); nil means "the host you
    /// reached the control endpoint on".
    public var advertisedHost: String?
    /// Control endpoint port (ROUTER; clients connect a DEALER). 0 picks a free port.
    public var controlPort: Int
    /// Worker endpoint port (ROUTER; workers connect a DEALER). 0 picks a free port.
    public var workerPort: Int
    /// Event-ingest port (XSUB; workers connect an XPUB). 0 picks a free port.
    public var eventsInPort: Int
    /// Event-publish port (XPUB; subscribers connect a SUB). 0 picks a free port.
    public var eventsOutPort: Int
    /// Capacity of the queue of accepted-but-undispatched jobs; a submit beyond it gets `pool_full`.
    public var maxQueue: Int
    /// Bytes of input the coordinator holds at most for accepted runs that have not finished (queued or
    /// running: it keeps each input until its run ends, to dispatch it again if a worker dies); beyond it
    /// submits are refused with `pool_full`. A run is always accepted when none is active.
    public var maxQueueBytes: Int
    /// Attempts per job unless the submit says otherwise.
    public var maxAttempts: Int
    /// A worker silent for this long is dead and its jobs are dispatched again.
    public var heartbeatTimeout: Duration
    /// A dispatched job not acknowledged within this long is dispatched again.
    public var ackTimeout: Duration
    /// An attempt running longer than this is dispatched again (its late result is discarded).
    public var leaseTimeout: Duration
    /// How long an accepted result waits for its terminal event on the bus before the copy carried by the
    /// result is published instead.
    public var terminalGrace: Duration
    /// Replay buffer budget, in bytes.
    public var replayBytes: Int
    /// Replay buffer budget, in runs.
    public var replayRuns: Int
    /// Finished results kept for `get_result` and duplicate detection.
    public var resultRetention: Int
    /// Bytes of finished results kept at most for `get_result` (about: strings and values as their UTF-8 size);
    /// the oldest are forgotten first.
    public var resultRetentionBytes: Int
    /// Largest inbound message on any socket (ZMQ_MAXMSGSIZE); bigger ones drop the connection.
    public var maxMessageBytes: Int
    /// About the most memory the coordinator spends on one subscriber that reads too slowly (or not at all),
    /// in bytes: events queued for it beyond this are not sent to it (it sees a `seq` gap and can repair it
    /// through `replay`). Sets ``subscriberHighWaterMark`` unless that is given.
    public var subscriberBufferBytes: Int
    /// Send high-water mark per subscriber on the event-publish socket, in messages (plain events, or
    /// batches of up to 32 KiB); beyond it the subscriber misses events. By
    /// default ``subscriberBufferBytes`` divided by the largest batch, so that a stalled subscriber holds at
    /// most about that many bytes (an event larger than a batch travels alone and may hold more).
    public var subscriberHighWaterMark: Int {
        get {
            explicitSubscriberHighWaterMark
                ?? max(Self.minimumSubscriberHighWaterMark, subscriberBufferBytes / EventPublisher.maxBatchBytes)
        }
        set { explicitSubscriberHighWaterMark = newValue }
    }
    private var explicitSubscriberHighWaterMark: Int?
    /// The smallest derived high-water mark: room for a few rounds of batches even with a tiny buffer.
    static let minimumSubscriberHighWaterMark = 16
    /// How long a draining coordinator waits for jobs in flight before it exits anyway.
    public var drainTimeout: Duration
    /// Bytes of replies (results, replays, errors) the coordinator holds at most for one peer that reads them
    /// too slowly (or not at all), besides what the peer's pipe holds (`controlHighWaterMark` messages);
    /// beyond it further replies to that peer are dropped and counted (`replies_dropped`), and `replay` is
    /// answered `busy`. The same bound holds for each worker's commands.
    public var clientBufferBytes: Int
    /// Bytes of replies held at most for all peers together.
    public var clientBuffersTotalBytes: Int
    /// Distinct topic prefixes subscribers may hold together (each at most 512 bytes; libzmq keeps each byte of
    /// each connection's subscriptions). Beyond it the coordinator drops every subscriber connection; their SUB
    /// sockets reconnect and subscribe again by themselves.
    public var maxSubscriptions: Int
    /// The directory of the journal (`journal.log`): every accepted run and every result is recorded there
    /// before it is acknowledged, and read back on start. No journal when nil: a restart forgets every run.
    public var dataDirectory: String?
    /// When the journal's writes are forced to the disk.
    public var journalSync: JournalSync
    /// Send high-water mark per peer of the control and worker endpoints, in messages.
    static let controlHighWaterMark: Int32 = 16

    public init(
        bindHost: String = "127.0.0.1",
        advertisedHost: String? = nil,
        controlPort: Int = 5570,
        workerPort: Int = 5571,
        eventsInPort: Int = 5572,
        eventsOutPort: Int = 5573,
        maxQueue: Int = 10_000,
        maxQueueBytes: Int = 256 << 20,
        maxAttempts: Int = 3,
        heartbeatTimeout: Duration = .seconds(2),
        ackTimeout: Duration = .seconds(5),
        leaseTimeout: Duration = .seconds(60),
        terminalGrace: Duration = .seconds(3),
        replayBytes: Int = 256 << 20,
        replayRuns: Int = 100_000,
        resultRetention: Int = 100_000,
        resultRetentionBytes: Int = 64 << 20,
        maxMessageBytes: Int = 4 << 20,
        subscriberBufferBytes: Int = 64 << 20,
        subscriberHighWaterMark: Int? = nil,
        drainTimeout: Duration = .seconds(30),
        clientBufferBytes: Int = 16 << 20,
        clientBuffersTotalBytes: Int = 256 << 20,
        maxSubscriptions: Int = 10_000,
        dataDirectory: String? = nil,
        journalSync: JournalSync = .interval,
        keys: CoordinatorKeys? = nil
    ) {
        self.keys = keys
        self.dataDirectory = dataDirectory
        self.journalSync = journalSync
        self.bindHost = bindHost
        self.advertisedHost = advertisedHost
        self.controlPort = controlPort
        self.workerPort = workerPort
        self.eventsInPort = eventsInPort
        self.eventsOutPort = eventsOutPort
        self.maxQueue = maxQueue
        self.maxQueueBytes = maxQueueBytes
        self.maxAttempts = maxAttempts
        self.heartbeatTimeout = heartbeatTimeout
        self.ackTimeout = ackTimeout
        self.leaseTimeout = leaseTimeout
        self.terminalGrace = terminalGrace
        self.replayBytes = replayBytes
        self.replayRuns = replayRuns
        self.resultRetention = resultRetention
        self.resultRetentionBytes = resultRetentionBytes
        self.maxMessageBytes = maxMessageBytes
        self.subscriberBufferBytes = subscriberBufferBytes
        self.explicitSubscriberHighWaterMark = subscriberHighWaterMark
        self.drainTimeout = drainTimeout
        self.clientBufferBytes = clientBufferBytes
        self.clientBuffersTotalBytes = clientBuffersTotalBytes
        self.maxSubscriptions = maxSubscriptions
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

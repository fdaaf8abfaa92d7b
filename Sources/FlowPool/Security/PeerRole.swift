/// What a key may do in the pool: the sockets it may connect to and, for clients and subscribers, which
/// namespaces it may touch (see docs/PROTOCOL.md, "Security").
public enum PeerRole: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Submits, cancels, reads results and replays in its namespaces; may follow them on the events-out endpoint.
    case client
    /// Registers on the workers endpoint, publishes events on the events-in endpoint.
    case worker
    /// Follows its namespaces on the events-out endpoint and repairs gaps with `replay`.
    case subscriber

    public var description: String { rawValue }

    /// Whether the role needs namespaces (workers run any namespace's jobs).
    public var hasNamespaces: Bool { self != .worker }

    /// Whether a key of this role may connect to `endpoint`.
    public func mayConnect(to endpoint: PoolEndpoint) -> Bool {
        switch (self, endpoint) {
        case (_, .control): true
        case (.worker, .workers), (.worker, .eventsIn): true
        case (.client, .eventsOut), (.subscriber, .eventsOut): true
        default: false
        }
    }
}

/// The coordinator's four endpoints, by what they carry; with keys each is its own ZAP domain.
public enum PoolEndpoint: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case control
    case workers
    case eventsIn = "events-in"
    case eventsOut = "events-out"

    public var description: String { rawValue }

    /// The ZAP domain of the endpoint's socket.
    var zapDomain: String { "flowpool." + rawValue }

    init?(zapDomain: String) {
        guard zapDomain.hasPrefix("flowpool.") else { return nil }
        self.init(rawValue: String(zapDomain.dropFirst("flowpool.".count)))
    }
}

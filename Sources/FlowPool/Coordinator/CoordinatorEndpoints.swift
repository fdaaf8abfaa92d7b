/// The endpoints a running coordinator bound, with the ports it actually got.
public struct CoordinatorEndpoints: Sendable, Hashable {
    /// Control endpoint (ROUTER): submit, status, replay, hello.
    public var control: String
    /// Worker endpoint (ROUTER): jobs out, acks, results and heartbeats in.
    public var workers: String
    /// Event ingest (XSUB): workers' XPUB sockets connect here.
    public var eventsIn: String
    /// Event publish (XPUB): subscribers' SUB sockets connect here.
    public var eventsOut: String

    public init(control: String, workers: String, eventsIn: String, eventsOut: String) {
        self.control = control
        self.workers = workers
        self.eventsIn = eventsIn
        self.eventsOut = eventsOut
    }

    /// The port number at the end of a `tcp://host:port` endpoint.
    public static func port(of endpoint: String) -> Int? {
        guard let colon = endpoint.lastIndex(of: ":") else { return nil }
        return Int(endpoint[endpoint.index(after: colon)...])
    }
}

/// Which events a subscription receives; the same rules apply in process and over the network.
///
/// | pattern | receives |
/// |---|---|
/// | `*` | every event |
/// | `sales_agent` | every event of namespace `sales_agent`, all runs (not `sales_agent2`) |
/// | `sales_agent/<runId>` | the events of one run |
/// | `sales_*` | events whose topic `<namespace>/<runId>/<type>` starts with `sales_` |
///
/// A `*` may appear only once, at the end. ``topicPrefix`` is the byte prefix a publisher-side filter (such
/// as a ZeroMQ SUB subscription) needs to select exactly these events.
public struct SubscriptionPattern: Sendable, Hashable, CustomStringConvertible {
    /// The parsed form of a pattern.
    public enum Kind: Sendable, Hashable {
        /// Every event.
        case all
        /// Every event of one namespace.
        case namespace(String)
        /// Every event of one run.
        case run(namespace: String, runId: String)
        /// Every event whose topic starts with the string.
        case prefix(String)
    }

    /// What the pattern selects.
    public let kind: Kind

    /// Parses a pattern.
    ///
    /// - Throws: ``FlowError`` with code `invalidPattern` when the pattern is empty, has an empty segment or
    ///   more than two segments, contains whitespace, or has a `*` anywhere but at the end.
    public init(_ pattern: String) throws {
        func invalid(_ why: String) -> FlowError {
            FlowError(
                .invalidPattern,
                "Invalid subscription pattern \"\(pattern)\": \(why). Use `*`, `<namespace>`, "
                    + "`<namespace>/<runId>` or a topic prefix ending in `*` such as `sales_*`."
            )
        }
        guard !pattern.isEmpty else { throw invalid("it is empty") }
        guard !pattern.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else {
            throw invalid("it contains whitespace or control characters")
        }
        let stars = pattern.utf8.count(where: { $0 == UInt8(ascii: "*") })
        if stars > 0 {
            guard stars == 1, pattern.utf8.last == UInt8(ascii: "*") else {
                throw invalid("`*` is allowed only once, as the last character")
            }
            let prefix = String(pattern.dropLast())
            kind = prefix.isEmpty ? .all : .prefix(prefix)
            return
        }
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: \.isEmpty) else { throw invalid("it has an empty segment") }
        switch segments.count {
        case 1: kind = .namespace(pattern)
        case 2: kind = .run(namespace: String(segments[0]), runId: String(segments[1]))
        default: throw invalid("it has more than two `/`-separated segments")
        }
    }

    /// A pattern of the given kind.
    public init(kind: Kind) { self.kind = kind }

    /// Every event.
    public static let all = SubscriptionPattern(kind: .all)

    /// The pattern in its textual form; parsing it gives back an equal pattern.
    public var description: String {
        switch kind {
        case .all: "*"
        case .namespace(let namespace): namespace
        case .run(let namespace, let runId): "\(namespace)/\(runId)"
        case .prefix(let prefix): "\(prefix)*"
        }
    }

    /// The topic prefix that selects exactly the matching events: `""`, `"<ns>/"`, `"<ns>/<run>/"` or the raw
    /// prefix.
    public var topicPrefix: String {
        switch kind {
        case .all: ""
        case .namespace(let namespace): "\(namespace)/"
        case .run(let namespace, let runId): "\(namespace)/\(runId)/"
        case .prefix(let prefix): prefix
        }
    }

    /// Whether an event with this namespace, run id and type matches.
    public func matches(namespace: String, runId: String, type: EventType) -> Bool {
        switch kind {
        case .all: true
        case .namespace(let ns): ns == namespace
        case .run(let ns, let run): ns == namespace && run == runId
        case .prefix(let prefix): "\(namespace)/\(runId)/\(type.rawValue)".utf8.starts(with: prefix.utf8)
        }
    }

    /// Whether `event` matches.
    public func matches(_ event: StreamEvent) -> Bool {
        matches(namespace: event.namespace, runId: event.runId, type: event.type)
    }

    /// Whether a wire topic `<namespace>/<runId>/<type>` matches.
    public func matches(topic: String) -> Bool {
        topic.utf8.starts(with: topicPrefix.utf8)
    }

    /// How the pattern applies to one run: to none of its events, to all, or to those whose type starts with
    /// a given string.
    func match(namespace: String, runId: String) -> RunMatch {
        switch kind {
        case .all: return .all
        case .namespace(let ns): return ns == namespace ? .all : .none
        case .run(let ns, let run): return ns == namespace && run == runId ? .all : .none
        case .prefix(let prefix):
            let runTopic = "\(namespace)/\(runId)/"
            if prefix.utf8.count <= runTopic.utf8.count {
                return runTopic.utf8.starts(with: prefix.utf8) ? .all : .none
            }
            guard prefix.utf8.starts(with: runTopic.utf8) else { return .none }
            return .typePrefix(String(decoding: prefix.utf8.dropFirst(runTopic.utf8.count), as: UTF8.self))
        }
    }

    enum RunMatch: Equatable {
        case none
        case all
        case typePrefix(String)
    }
}

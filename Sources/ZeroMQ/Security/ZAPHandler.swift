import Logging
import Synchronization

/// Authenticates CURVE clients against an allow-list of public keys (a ZAP handler, RFC 27).
///
/// libzmq asks the ZAP handler of a context (`inproc://zeromq.zap.01`) whether to accept each client of a
/// CURVE server socket. Without one, a CURVE server accepts **any** client key. Start the handler before
/// binding server sockets; it runs on its own ``SocketLoop`` thread until ``stop()``.
///
/// ```swift
/// let zap = try ZAPHandler(context: context, allowedClientKeys: [workerKeys.publicKey], logger: logger)
/// let server = try Socket(context, .router)
/// try server.makeCurveServer(serverKeys)
/// try server.bind("tcp://*:5555")
/// ```
///
/// Only one ZAP handler can exist per context. Non-CURVE mechanisms that consult it are refused.
public final class ZAPHandler: Sendable {
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    /// One connection asking to be accepted.
    public struct Request: Sendable, Hashable {
        /// The ZAP domain of the server socket it connects to (``Socket/makeCurveServer(_:domain:)``).
        public var domain: String
        /// The peer's IP address.
        public var address: String
        /// `CURVE`, `PLAIN` or `NULL`.
        public var mechanism: String
        /// The client's long-term public key (Z85) for CURVE; `nil` otherwise.
        public var publicKey: String?
    }

    /// What to answer a ``Request``.
    public enum Decision: Sendable, Hashable {
        /// Accept; every message of the connection carries `userId` as its `User-Id` property.
        case allow(userId: String)
        /// Refuse (ZAP status 400), with a reason for the log.
        case deny(reason: String)
    }

    private final class AllowedKeys: Sendable {
        let keys: Mutex<Set<String>>
        init(_ keys: Set<String>) { self.keys = Mutex(keys) }
    }

    private final class Counters: Sendable {
        let accepted = Atomic<Int>(0)
        let denied = Atomic<Int>(0)
    }

    private let allowed: AllowedKeys?
    private let counters = Counters()
    private let loop: SocketLoop

    /// Binds the ZAP endpoint and accepts the CURVE clients whose keys are in an allow-list; their `User-Id` is
    /// their public key.
    ///
    /// - Parameters:
    ///   - context: The context whose CURVE servers it authenticates.
    ///   - allowedClientKeys: Z85 public keys of the clients to accept.
    ///   - logger: Receives one line per refused client.
    /// - Throws: ``ZeroMQError`` (`addressInUse` when the context already has a ZAP handler).
    public convenience init(context: Context, allowedClientKeys: Set<String>, logger: Logger) throws {
        let allowed = AllowedKeys(allowedClientKeys)
        try self.init(context: context, allowed: allowed, logger: logger) { request in
            guard request.mechanism == "CURVE", let key = request.publicKey else {
                return .deny(reason: "\(request.mechanism) clients are not accepted")
            }
            return allowed.keys.withLock { $0.contains(key) }
                ? .allow(userId: key) : .deny(reason: "client key not allowed")
        }
    }

    /// Binds the ZAP endpoint and answers each request with `decide`, on the handler's own thread.
    ///
    /// - Parameters:
    ///   - context: The context whose CURVE servers it authenticates.
    ///   - logger: Receives one line per refused client.
    ///   - decide: Called once per connection handshake; it must be quick (handshakes wait for it).
    public convenience init(
        context: Context,
        logger: Logger,
        decide: @escaping @Sendable (Request) -> Decision
    ) throws {
        try self.init(context: context, allowed: nil, logger: logger, decide: decide)
    }

    private init(
        context: Context,
        allowed: AllowedKeys?,
        logger: Logger,
        decide: @escaping @Sendable (Request) -> Decision
    ) throws {
        self.allowed = allowed
        let counters = self.counters
        let socket = try Socket(context, .rep)
        try socket.bind(Self.endpoint)
        loop = try SocketLoop(context: context, name: "zmq-zap", batchSize: 64, logger: logger)
        loop.start()
        _ = try loop.add(socket, maxFrames: 16) { request, io in
            io.reply(Self.answer(request, counters: counters, logger: logger, decide: decide))
        }
    }

    /// Accepts clients with `publicKey` (Z85) from now on (a handler made with an allow-list).
    public func allow(_ publicKey: String) { _ = allowed?.keys.withLock { $0.insert(publicKey) } }

    /// Refuses new connections from clients with `publicKey`; existing connections stay up (a handler made with
    /// an allow-list).
    public func revoke(_ publicKey: String) { _ = allowed?.keys.withLock { $0.remove(publicKey) } }

    /// How many handshakes were accepted.
    public var acceptedCount: Int { counters.accepted.load(ordering: .relaxed) }

    /// How many handshakes were refused.
    public var deniedCount: Int { counters.denied.load(ordering: .relaxed) }

    /// Stops answering; CURVE servers of the context then refuse every client.
    public func stop() async { await loop.shutdown() }

    private static func answer(
        _ request: [[UInt8]],
        counters: Counters,
        logger: Logger,
        decide: @Sendable (Request) -> Decision
    ) -> [[UInt8]] {
        // Request: version, request id, domain, address, identity, mechanism, credentials…
        guard request.count >= 6, request[0] == Array("1.0".utf8) else {
            counters.denied.add(1, ordering: .relaxed)
            logger.warning("malformed ZAP request of \(request.count) frames")
            let id = request.count > 1 ? request[1] : []
            return [Array("1.0".utf8), id, Array("500".utf8), Array("malformed request".utf8), [], []]
        }
        let requestID = request[1]
        let mechanism = String(decoding: request[5], as: UTF8.self)
        var key: String?
        if mechanism == "CURVE", request.count >= 7, request[6].count == 32 {
            key = try? Z85.encode(request[6])
        }
        let parsed = Request(
            domain: String(decoding: request[2], as: UTF8.self),
            address: String(decoding: request[3], as: UTF8.self),
            mechanism: mechanism,
            publicKey: key
        )
        switch decide(parsed) {
        case .allow(let userId):
            counters.accepted.add(1, ordering: .relaxed)
            return [Array("1.0".utf8), requestID, Array("200".utf8), Array("OK".utf8), Array(userId.utf8), []]
        case .deny(let reason):
            counters.denied.add(1, ordering: .relaxed)
            logger.warning(
                "refused \(mechanism) client: \(reason)",
                metadata: [
                    "peer.address": "\(parsed.address)", "peer.key": "\(key ?? "-")", "zap.domain": "\(parsed.domain)",
                ]
            )
            return [Array("1.0".utf8), requestID, Array("400".utf8), Array(reason.utf8.prefix(255)), [], []]
        }
    }
}

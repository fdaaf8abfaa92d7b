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

    private final class Policy: Sendable {
        let allowed: Mutex<Set<String>>
        let accepted = Atomic<Int>(0)
        let denied = Atomic<Int>(0)
        init(_ keys: Set<String>) { allowed = Mutex(keys) }
    }

    private let policy: Policy
    private let loop: SocketLoop

    /// Binds the ZAP endpoint and starts answering requests.
    ///
    /// - Parameters:
    ///   - context: The context whose CURVE servers it authenticates.
    ///   - allowedClientKeys: Z85 public keys of the clients to accept.
    ///   - logger: Receives one line per refused client.
    /// - Throws: ``ZeroMQError`` (`addressInUse` when the context already has a ZAP handler).
    public init(context: Context, allowedClientKeys: Set<String>, logger: Logger) throws {
        let policy = Policy(allowedClientKeys)
        self.policy = policy
        let socket = try Socket(context, .rep)
        try socket.bind(Self.endpoint)
        loop = try SocketLoop(context: context, name: "zmq-zap", batchSize: 64, logger: logger)
        loop.start()
        _ = try loop.add(socket, maxFrames: 16) { request, io in
            io.reply(Self.answer(request, policy: policy, logger: logger))
        }
    }

    /// Accepts clients with `publicKey` (Z85) from now on.
    public func allow(_ publicKey: String) { _ = policy.allowed.withLock { $0.insert(publicKey) } }

    /// Refuses new connections from clients with `publicKey`; existing connections stay up.
    public func revoke(_ publicKey: String) { _ = policy.allowed.withLock { $0.remove(publicKey) } }

    /// How many handshakes were accepted.
    public var acceptedCount: Int { policy.accepted.load(ordering: .relaxed) }

    /// How many handshakes were refused.
    public var deniedCount: Int { policy.denied.load(ordering: .relaxed) }

    /// Stops answering; CURVE servers of the context then refuse every client.
    public func stop() async { await loop.shutdown() }

    private static func answer(_ request: [[UInt8]], policy: Policy, logger: Logger) -> [[UInt8]] {
        // Request: version, request id, domain, address, identity, mechanism, credentials…
        guard request.count >= 6, request[0] == Array("1.0".utf8) else {
            policy.denied.add(1, ordering: .relaxed)
            logger.warning("malformed ZAP request of \(request.count) frames")
            let id = request.count > 1 ? request[1] : []
            return [Array("1.0".utf8), id, Array("500".utf8), Array("malformed request".utf8), [], []]
        }
        let requestID = request[1]
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        var key: String?
        if mechanism == "CURVE", request.count >= 7, request[6].count == 32 {
            key = try? Z85.encode(request[6])
        }
        if let key, policy.allowed.withLock({ $0.contains(key) }) {
            policy.accepted.add(1, ordering: .relaxed)
            return [Array("1.0".utf8), requestID, Array("200".utf8), Array("OK".utf8), Array(key.utf8), []]
        }
        policy.denied.add(1, ordering: .relaxed)
        logger.warning(
            "refused \(mechanism) client",
            metadata: ["peer.address": "\(address)", "peer.key": "\(key ?? "-")"]
        )
        return [Array("1.0".utf8), requestID, Array("400".utf8), Array("client key not allowed".utf8), [], []]
    }
}

import CZeroMQ

/// A typed socket option whose value has exactly the C size libzmq expects.
///
/// Integer options are `Int32` (`int` in C), ``maxMessageSize(_:)`` is `Int64`, booleans are sent as
/// `Int32` 0/1, byte options as raw bytes. Durations are milliseconds, as in libzmq.
public enum SocketOption: Sendable, Hashable {
    /// `ZMQ_SNDHWM`: messages queued per peer before sends block or drop (0 = unlimited).
    case sendHighWaterMark(Int32)
    /// `ZMQ_RCVHWM`: messages queued per peer on the receiving side.
    case receiveHighWaterMark(Int32)
    /// `ZMQ_LINGER` in ms: how long close keeps unsent messages (0 = drop, -1 = forever).
    case linger(Int32)
    /// `ZMQ_IMMEDIATE`: queue messages only to completed connections.
    case immediate(Bool)
    /// `ZMQ_HEARTBEAT_IVL` in ms: send a ZMTP PING this often (0 = off).
    case heartbeatInterval(Int32)
    /// `ZMQ_HEARTBEAT_TTL` in ms (rounded to 100 ms by libzmq): how long the peer waits for traffic.
    case heartbeatTTL(Int32)
    /// `ZMQ_HEARTBEAT_TIMEOUT` in ms: close the connection when no traffic follows a PING this long.
    case heartbeatTimeout(Int32)
    /// `ZMQ_MAXMSGSIZE` in bytes: a peer sending a larger message is disconnected (-1 = unlimited).
    case maxMessageSize(Int64)
    /// `ZMQ_ROUTING_ID`: this socket's identity as seen by a ROUTER peer (1–255 bytes).
    case routingID([UInt8])
    /// `ZMQ_SUBSCRIBE`: add a topic prefix filter (SUB, XSUB through a message).
    case subscribe([UInt8])
    /// `ZMQ_UNSUBSCRIBE`: remove a topic prefix filter.
    case unsubscribe([UInt8])
    /// `ZMQ_XPUB_VERBOSE`: pass every subscription message upstream, not only new ones.
    case xpubVerbose(Bool)
    /// `ZMQ_XPUB_NODROP`: fail sends with EAGAIN at the high-water mark instead of dropping.
    case xpubNoDrop(Bool)
    /// `ZMQ_XPUB_MANUAL`: the XPUB applies no subscription itself; the application applies each one it reads
    /// with ``subscribe(_:)`` / ``unsubscribe(_:)`` (they act on the connection it came from).
    case xpubManual(Bool)
    /// `ZMQ_XPUB_WELCOME_MSG`: a message sent to each new subscriber.
    case xpubWelcomeMessage([UInt8])
    /// `ZMQ_RECONNECT_IVL` in ms: the first reconnect delay (-1 = no reconnect).
    case reconnectInterval(Int32)
    /// `ZMQ_RECONNECT_IVL_MAX` in ms: the largest reconnect delay with exponential back-off (0 = none).
    case reconnectIntervalMax(Int32)
    /// `ZMQ_TCP_KEEPALIVE`: -1 = OS default, 0 = off, 1 = on.
    case tcpKeepalive(Int32)
    /// `ZMQ_TCP_KEEPALIVE_IDLE` in seconds.
    case tcpKeepaliveIdle(Int32)
    /// `ZMQ_TCP_KEEPALIVE_INTVL` in seconds.
    case tcpKeepaliveInterval(Int32)
    /// `ZMQ_TCP_KEEPALIVE_CNT`: probes before the connection is dropped.
    case tcpKeepaliveCount(Int32)
    /// `ZMQ_RCVTIMEO` in ms for blocking receives (-1 = forever).
    case receiveTimeout(Int32)
    /// `ZMQ_SNDTIMEO` in ms for blocking sends (-1 = forever).
    case sendTimeout(Int32)
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown routing id fails with `hostUnreachable`.
    case routerMandatory(Bool)
    /// `ZMQ_CURVE_SERVER`: act as CURVE server (needs ``curveSecretKey(_:)``).
    case curveServer(Bool)
    /// `ZMQ_CURVE_PUBLICKEY`: this socket's long-term public key (Z85, 40 characters).
    case curvePublicKey(String)
    /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key (Z85, 40 characters).
    case curveSecretKey(String)
    /// `ZMQ_CURVE_SERVERKEY`: the server's public key a CURVE client expects (Z85, 40 characters).
    case curveServerKey(String)
    /// `ZMQ_ZAP_DOMAIN`: the domain sent to the ZAP handler.
    case zapDomain(String)
    /// `ZMQ_CONFLATE`: keep only the last message (single-part messages only).
    case conflate(Bool)
    /// Any other `int` option by its libzmq number.
    case int32(option: Int32, value: Int32)

    /// The libzmq option number.
    public var code: Int32 {
        switch self {
        case .sendHighWaterMark: ZMQ_SNDHWM
        case .receiveHighWaterMark: ZMQ_RCVHWM
        case .linger: ZMQ_LINGER
        case .immediate: ZMQ_IMMEDIATE
        case .heartbeatInterval: ZMQ_HEARTBEAT_IVL
        case .heartbeatTTL: ZMQ_HEARTBEAT_TTL
        case .heartbeatTimeout: ZMQ_HEARTBEAT_TIMEOUT
        case .maxMessageSize: ZMQ_MAXMSGSIZE
        case .routingID: ZMQ_ROUTING_ID
        case .subscribe: ZMQ_SUBSCRIBE
        case .unsubscribe: ZMQ_UNSUBSCRIBE
        case .xpubVerbose: ZMQ_XPUB_VERBOSE
        case .xpubNoDrop: ZMQ_XPUB_NODROP
        case .xpubManual: ZMQ_XPUB_MANUAL
        case .xpubWelcomeMessage: ZMQ_XPUB_WELCOME_MSG
        case .reconnectInterval: ZMQ_RECONNECT_IVL
        case .reconnectIntervalMax: ZMQ_RECONNECT_IVL_MAX
        case .tcpKeepalive: ZMQ_TCP_KEEPALIVE
        case .tcpKeepaliveIdle: ZMQ_TCP_KEEPALIVE_IDLE
        case .tcpKeepaliveInterval: ZMQ_TCP_KEEPALIVE_INTVL
        case .tcpKeepaliveCount: ZMQ_TCP_KEEPALIVE_CNT
        case .receiveTimeout: ZMQ_RCVTIMEO
        case .sendTimeout: ZMQ_SNDTIMEO
        case .routerMandatory: ZMQ_ROUTER_MANDATORY
        case .curveServer: ZMQ_CURVE_SERVER
        case .curvePublicKey: ZMQ_CURVE_PUBLICKEY
        case .curveSecretKey: ZMQ_CURVE_SECRETKEY
        case .curveServerKey: ZMQ_CURVE_SERVERKEY
        case .zapDomain: ZMQ_ZAP_DOMAIN
        case .conflate: ZMQ_CONFLATE
        case .int32(let option, _): option
        }
    }

    /// Calls `body` with the option's value laid out as libzmq expects it.
    func withValue<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .sendHighWaterMark(let value), .receiveHighWaterMark(let value), .linger(let value),
            .heartbeatInterval(let value), .heartbeatTTL(let value), .heartbeatTimeout(let value),
            .reconnectInterval(let value), .reconnectIntervalMax(let value), .tcpKeepalive(let value),
            .tcpKeepaliveIdle(let value), .tcpKeepaliveInterval(let value), .tcpKeepaliveCount(let value),
            .receiveTimeout(let value), .sendTimeout(let value), .int32(_, let value):
            return Swift.withUnsafeBytes(of: value, body)
        case .immediate(let flag), .xpubVerbose(let flag), .xpubNoDrop(let flag), .xpubManual(let flag),
            .routerMandatory(let flag),
            .curveServer(let flag), .conflate(let flag):
            return Swift.withUnsafeBytes(of: Int32(flag ? 1 : 0), body)
        case .maxMessageSize(let value):
            return Swift.withUnsafeBytes(of: value, body)
        case .routingID(let bytes), .subscribe(let bytes), .unsubscribe(let bytes), .xpubWelcomeMessage(let bytes):
            return bytes.withUnsafeBytes(body)
        case .curvePublicKey(let text), .curveSecretKey(let text), .curveServerKey(let text), .zapDomain(let text):
            return Array(text.utf8).withUnsafeBytes(body)
        }
    }
}

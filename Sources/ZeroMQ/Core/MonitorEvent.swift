import CZeroMQ
import Synchronization

/// A socket event reported by `zmq_socket_monitor` (connected, disconnected, handshake failed, …).
///
/// Get a monitor with ``Socket/monitor(_:)``: it returns a PAIR socket that receives two-frame event
/// messages; decode each with ``init(frames:)``. Typically the PAIR socket is added to a ``SocketLoop``
/// with ``SocketLoop/addStream(_:policy:maxFrames:outboundCapacity:)`` and the stream mapped through
/// `MonitorEvent(frames:)`.
public struct MonitorEvent: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of events libzmq reports (a set, to choose which to monitor).
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let connected = Kind(rawValue: UInt32(ZMQ_EVENT_CONNECTED))
        public static let connectDelayed = Kind(rawValue: UInt32(ZMQ_EVENT_CONNECT_DELAYED))
        public static let connectRetried = Kind(rawValue: UInt32(ZMQ_EVENT_CONNECT_RETRIED))
        public static let listening = Kind(rawValue: UInt32(ZMQ_EVENT_LISTENING))
        public static let bindFailed = Kind(rawValue: UInt32(ZMQ_EVENT_BIND_FAILED))
        public static let accepted = Kind(rawValue: UInt32(ZMQ_EVENT_ACCEPTED))
        public static let acceptFailed = Kind(rawValue: UInt32(ZMQ_EVENT_ACCEPT_FAILED))
        public static let closed = Kind(rawValue: UInt32(ZMQ_EVENT_CLOSED))
        public static let closeFailed = Kind(rawValue: UInt32(ZMQ_EVENT_CLOSE_FAILED))
        public static let disconnected = Kind(rawValue: UInt32(ZMQ_EVENT_DISCONNECTED))
        public static let monitorStopped = Kind(rawValue: UInt32(ZMQ_EVENT_MONITOR_STOPPED))
        /// Handshake failed for a reason without detail (e.g. the peer closed during it).
        public static let handshakeFailedNoDetail = Kind(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
        public static let handshakeSucceeded = Kind(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        /// Handshake failed on a protocol error; ``MonitorEvent/value`` holds the ZMTP error code.
        public static let handshakeFailedProtocol = Kind(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        /// Authentication (ZAP) refused the peer; ``MonitorEvent/value`` holds the ZAP status (e.g. 400).
        public static let handshakeFailedAuth = Kind(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))

        /// Every handshake failure.
        public static let handshakeFailed: Kind = [
            .handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth,
        ]
        /// The events a pool typically follows.
        public static let connectionLifecycle: Kind = [
            .connected, .accepted, .disconnected, .handshakeSucceeded, .handshakeFailed,
        ]
        /// Everything.
        public static let all = Kind(rawValue: UInt32(ZMQ_EVENT_ALL))
    }

    /// What happened (exactly one flag).
    public var kind: Kind
    /// The event's value: a file descriptor, an errno, a reconnect interval or a ZAP status.
    public var value: UInt32
    /// The endpoint concerned, e.g. `tcp://127.0.0.1:5555`.
    public var endpoint: String

    /// Decodes a monitor message: `[2-byte event, 4-byte value]`, `[endpoint]` (both little-endian on
    /// the platforms we run on, as libzmq writes them in host order).
    ///
    /// - Returns: `nil` when the frames are not a monitor message.
    public init?(frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        let head = frames[0]
        let event = UInt16(head[0]) | UInt16(head[1]) << 8
        kind = Kind(rawValue: UInt32(event))
        value = UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
        endpoint = String(decoding: frames[1], as: UTF8.self)
    }

    public var description: String { "MonitorEvent(0x\(String(kind.rawValue, radix: 16)), \(value), \(endpoint))" }
}

private let monitorSequence = Atomic<Int>(0)

extension Socket {
    /// Starts monitoring this socket and returns a PAIR socket that receives its events.
    ///
    /// Call on the thread that owns this socket. The returned socket is independent: hand it to a
    /// ``SocketLoop`` or read it with ``receiveMultipart(maxFrames:)`` and decode with
    /// ``MonitorEvent/init(frames:)``.
    ///
    /// - Parameter events: The events to report.
    public func monitor(_ events: MonitorEvent.Kind = .connectionLifecycle) throws -> sending Socket {
        let number = monitorSequence.wrappingAdd(1, ordering: .relaxed).newValue
        let endpoint = "inproc://flowpool.monitor.\(number)"
        guard zmq_socket_monitor(handle, endpoint, Int32(bitPattern: events.rawValue)) == 0 else {
            throw ZeroMQError.last("monitor \(endpoint)")
        }
        let pair = try Socket(context, .pair)
        try pair.connect(endpoint)
        return pair
    }
}

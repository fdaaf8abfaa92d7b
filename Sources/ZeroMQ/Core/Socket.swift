import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ socket, used from one thread at a time for its whole life.
///
/// `Socket` is not `Sendable`: create and configure it, then either use it on the thread that made it or
/// hand it over (`sending`) to a ``SocketLoop`` or ``Proxy``, which then own it. Blocking calls
/// (``send(_:more:)``, ``receive()``) must never run on Swift's cooperative pool; use a ``SocketLoop``
/// from async code.
///
/// New sockets get `ZMQ_LINGER` 0 ("discard unsent messages on close"), so closing a socket or
/// terminating its context never hangs; pass another `linger` to keep the tail for a bounded time.
/// The socket closes when the last reference goes away, or earlier with ``close()``.
public final class Socket {
    // Used from one thread at a time, so the dynamic exclusivity check on every call is not needed.
    @exclusivity(unchecked) @usableFromInline var handle: UnsafeMutableRawPointer?
    /// The context the socket belongs to (kept alive by the socket).
    public let context: Context
    /// The socket's type.
    public let kind: SocketKind
    @usableFromInline let scratch = Message()

    /// Creates a socket of `kind` in `context`.
    ///
    /// - Parameters:
    ///   - context: The owning context.
    ///   - kind: The socket type.
    ///   - linger: `ZMQ_LINGER` in milliseconds: 0 (the default) drops unsent messages on close, -1
    ///     waits forever (not recommended: a dead peer then blocks context termination).
    /// - Throws: ``ZeroMQError`` if libzmq refuses (e.g. the context is terminated).
    public init(_ context: Context, _ kind: SocketKind, linger: Int32 = 0) throws {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw ZeroMQError.last("create \(kind) socket")
        }
        self.handle = handle
        self.context = context
        self.kind = kind
        try set(.linger(linger))
    }

    deinit { close() }

    /// Closes the socket now; later calls fail with `ENOTSOCK`. Closing twice is harmless.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    @usableFromInline
    func checkOpen(_ operation: @autoclosure () -> String) throws {
        if handle == nil { throw ZeroMQError(.invalidArgument, "socket is closed", operation: operation()) }
    }

    /// Binds to `endpoint` and returns the endpoint actually bound.
    ///
    /// `tcp://127.0.0.1:*` binds an ephemeral port; the result (`ZMQ_LAST_ENDPOINT`) names it, e.g.
    /// `tcp://127.0.0.1:41235`.
    ///
    /// - Throws: ``ZeroMQError`` with `addressInUse`, `addressNotAvailable`, `protocolNotSupported`, ….
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        try checkOpen("bind \(endpoint)")
        guard zmq_bind(handle, endpoint) == 0 else { throw ZeroMQError.last("bind \(endpoint)") }
        return (try? lastEndpoint) ?? endpoint
    }

    /// Connects to `endpoint` (the peer need not be up yet; libzmq reconnects in the background).
    public func connect(_ endpoint: String) throws {
        try checkOpen("connect \(endpoint)")
        guard zmq_connect(handle, endpoint) == 0 else { throw ZeroMQError.last("connect \(endpoint)") }
    }

    /// Stops listening on `endpoint` (use the endpoint ``bind(_:)`` returned).
    public func unbind(_ endpoint: String) throws {
        try checkOpen("unbind \(endpoint)")
        guard zmq_unbind(handle, endpoint) == 0 else { throw ZeroMQError.last("unbind \(endpoint)") }
    }

    /// Disconnects from `endpoint`.
    public func disconnect(_ endpoint: String) throws {
        try checkOpen("disconnect \(endpoint)")
        guard zmq_disconnect(handle, endpoint) == 0 else { throw ZeroMQError.last("disconnect \(endpoint)") }
    }
}

import CZeroMQ

/// A libzmq context: the owner of libzmq's I/O threads and of `inproc://` endpoints.
///
/// A context is thread-safe and shared freely. Every ``Socket`` keeps its context alive, so the context
/// is terminated (`zmq_ctx_term`) only after the last socket has been closed; with the binding's default
/// linger of 0 that never waits. Call ``shutdown()`` to make every blocking call on every socket of the
/// context fail at once with ``ZeroMQError/Code/contextTerminated`` (a ``SocketLoop`` then stops and
/// closes its sockets on its own thread).
public final class Context: @unchecked Sendable {
    // @unchecked Sendable: a libzmq context is documented thread-safe; `handle` never changes.
    @usableFromInline let handle: UnsafeMutableRawPointer

    /// Creates a context.
    ///
    /// - Parameter ioThreads: libzmq I/O threads (`ZMQ_IO_THREADS`); 1 suits up to about a gigabyte/s.
    /// - Throws: ``ZeroMQError`` when libzmq cannot create the context or rejects the option.
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZeroMQError.last("create context") }
        self.handle = handle
        if ioThreads != 1, zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            let error = ZeroMQError.last("set ZMQ_IO_THREADS \(ioThreads)")
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Makes blocking operations on all sockets of this context fail with `contextTerminated`.
    ///
    /// Sockets stay open until their owners close them; the context itself terminates when the last
    /// reference to it goes away.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

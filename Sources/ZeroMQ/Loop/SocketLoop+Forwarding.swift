extension SocketLoop {
    /// The direction of a message through a forwarder.
    public enum ForwardingDirection: Sendable, Hashable {
        /// From the frontend to the backend (e.g. events from XSUB to XPUB).
        case downstream
        /// From the backend to the frontend (e.g. subscriptions from XPUB to XSUB).
        case upstream
    }

    /// Forwards messages both ways between two sockets on the loop thread, like `zmq_proxy`.
    ///
    /// The usual use is an event bus: publishers connect to an XSUB `frontend`, subscribers to an XPUB
    /// `backend`; events flow downstream, subscriptions upstream. `inspect` sees every message on the
    /// loop thread before it is forwarded (to count, or to log), and must be quick.
    ///
    /// - Returns: The handles of both sockets (for ``perform(_:)`` and ``remove(_:)``).
    public func addForwarder(
        frontend: sending Socket,
        backend: sending Socket,
        maxFrames: Int = 64,
        inspect: (@Sendable (_ message: [[UInt8]], _ direction: ForwardingDirection) -> Void)? = nil
    ) throws -> (frontend: SocketHandle, backend: SocketHandle) {
        // Both ids are reserved first, so each handler knows its peer before any message arrives.
        let front = SocketHandle(id: shared.reserveID())
        let back = SocketHandle(id: shared.reserveID())
        _ = try shared.add(
            Transfer(frontend),
            receiver: .handler(
                { message, io in
                    inspect?(message, .downstream)
                    io.send(message, on: back)
                },
                readsUserId: false
            ),
            maxFrames: maxFrames,
            outboundCapacity: 1024,
            reservedID: front.id
        )
        _ = try shared.add(
            Transfer(backend),
            receiver: .handler(
                { message, io in
                    inspect?(message, .upstream)
                    io.send(message, on: front)
                },
                readsUserId: false
            ),
            maxFrames: maxFrames,
            outboundCapacity: 1024,
            reservedID: back.id
        )
        return (front, back)
    }
}

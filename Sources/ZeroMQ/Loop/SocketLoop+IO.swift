extension SocketLoop {
    /// Access to a loop's sockets from code running on the loop thread (a ``Handler`` or ``perform(_:)``).
    ///
    /// Valid only during the call it is passed to; do not store it or use it from another thread.
    public struct IO {
        let core: LoopCore
        /// The socket the message being handled came from (`nil` inside ``SocketLoop/perform(_:)``).
        public let source: SocketHandle?

        /// The `User-Id` of the connection the message being handled came from: the id the context's ZAP
        /// handler gave it when it authenticated (see ``ZAPHandler``). `nil` when the socket was not added with
        /// `readsUserId`, when the connection was not authenticated, and for messages libzmq makes itself (an
        /// XPUB's unsubscriptions for a connection that closed).
        public var userId: String? { core.currentUserId }

        /// The socket behind `handle`, for options, subscriptions, connects and binds.
        public func socket(_ handle: SocketHandle) -> Socket? { core.socket(handle.id) }

        /// When the loop last found no message waiting on the socket: every message the socket had received
        /// by then has been read. In seconds of `CLOCK_MONOTONIC`; `nil` before the first such moment or for
        /// an unknown socket.
        ///
        /// A peer's silence is only known up to this moment: while the loop thread is held up, or a backlog
        /// is being read, the messages a peer sent may be waiting unread.
        public func drainedAt(_ handle: SocketHandle) -> Double? {
            core.drainedAt(handle.id)
        }

        /// Sends a message now, or queues it on the loop thread if the socket pushes back.
        ///
        /// - Returns: `false` when the message was dropped (unknown socket, send error, or the socket's
        ///   queue of loop-side messages is full); drops are counted as `outboundFailed`.
        @discardableResult
        public func send(_ message: [[UInt8]], on handle: SocketHandle) -> Bool {
            core.sendFromLoop(message, on: handle.id)
        }

        /// Sends a message on the socket the handled message came from (e.g. a ROUTER or REP reply).
        @discardableResult
        public func reply(_ message: [[UInt8]]) -> Bool {
            guard let source else { return false }
            return core.sendFromLoop(message, on: source.id)
        }
    }
}

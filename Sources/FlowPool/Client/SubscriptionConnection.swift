import Logging
import Synchronization
import ZeroMQ

/// A SUB socket on the loop, connected to the coordinator's events-out endpoint, that is connected again after the
/// coordinator refused its security handshake.
///
/// libzmq gives up a connection whose handshake was refused and never tries it again: a subscriber whose key was
/// taken out of the allow-list (the coordinator drops every subscriber connection on a reload, so each
/// authenticates again) would stay silent for good, even once its key is listed again. This watches the socket's
/// handshakes and, after a refusal, connects it again after 1 s, then 2, 4, … up to every 30 s, until a handshake
/// succeeds; libzmq sends the socket's subscriptions again on the new connection. A refusal is logged once (with
/// why), the return once.
final class SubscriptionConnection: Sendable {
    /// The SUB socket's handle on the loop.
    let handle: SocketLoop.SocketHandle
    private let monitor: SocketLoop.SocketHandle
    private let loop: SocketLoop
    private let endpoint: String
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// Refused handshakes since the last one that succeeded.
        var refusals = 0
        /// Whether this run of refusals was logged.
        var logged = false
        var retry: Task<Void, Never>?
        var closed = false
    }

    /// The longest wait between two attempts.
    static let maxRetryDelay: Duration = .seconds(30)

    /// The wait before the attempt that follows the `refusals`-th refusal in a row: 1 s, 2, 4, … up to
    /// ``maxRetryDelay``.
    static func retryDelay(after refusals: Int) -> Duration {
        min(.seconds(1 << min(max(refusals - 1, 0), 5)), maxRetryDelay)
    }

    private init(
        handle: SocketLoop.SocketHandle,
        monitor: SocketLoop.SocketHandle,
        loop: SocketLoop,
        endpoint: String,
        logger: Logger
    ) {
        self.handle = handle
        self.monitor = monitor
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
    }

    /// Hands `socket`, connected to `endpoint` (and secured and subscribed as the caller wants), to `loop` with a
    /// monitor of its handshakes.
    static func open(
        _ socket: sending Socket,
        endpoint: String,
        loop: SocketLoop,
        policy: SocketLoop.InboundPolicy,
        maxFrames: Int,
        outboundCapacity: Int,
        logger: Logger
    ) throws -> (connection: SubscriptionConnection, messages: InboundMessages) {
        let monitorSocket = try socket.monitor([.handshakeSucceeded, .handshakeFailed])
        let (handle, messages) = try loop.addStream(
            socket,
            policy: policy,
            maxFrames: maxFrames,
            outboundCapacity: outboundCapacity
        )
        let box = Mutex<SubscriptionConnection?>(nil)
        let monitor: SocketLoop.SocketHandle
        do {
            monitor = try loop.add(monitorSocket, maxFrames: 4, outboundCapacity: 1) { frames, _ in
                guard let event = MonitorEvent(frames: frames) else { return }
                box.withLock { $0 }?.handshake(event)
            }
        } catch {
            loop.remove(handle)
            throw error
        }
        let connection = SubscriptionConnection(
            handle: handle,
            monitor: monitor,
            loop: loop,
            endpoint: endpoint,
            logger: logger
        )
        box.withLock { $0 = connection }
        return (connection, messages)
    }

    /// Closes the socket and its monitor; no attempt follows.
    func close() {
        let retry = state.withLock { s in
            s.closed = true
            defer { s.retry = nil }
            return s.retry
        }
        retry?.cancel()
        loop.remove(handle)
        loop.remove(monitor)
    }

    /// A handshake's outcome (on the loop thread).
    private func handshake(_ event: MonitorEvent) {
        if event.kind.contains(.handshakeSucceeded) {
            let refused = state.withLock { s in
                defer {
                    s.refusals = 0
                    s.logged = false
                }
                return s.refusals
            }
            if refused > 0 {
                logger.notice("the coordinator at \(endpoint) accepted this subscription again")
            }
            return
        }
        // Refusals only: after a failure without detail (a wrong coordinator key, a connection closed during the
        // handshake) libzmq connects again by itself.
        guard !event.kind.isDisjoint(with: [.handshakeFailedAuth, .handshakeFailedProtocol]) else { return }
        let (log, delay) = state.withLock { s -> (Bool, Duration) in
            if !s.closed, s.retry == nil {
                s.refusals += 1
                let delay = Self.retryDelay(after: s.refusals)
                s.retry = Task { [weak self] in
                    try? await Task.sleep(for: delay)
                    await self?.connectAgain()
                }
            }
            defer { s.logged = true }
            return (!s.logged, Self.retryDelay(after: s.refusals))
        }
        guard log else { return }
        logger.warning(
            "\(endpoint): \(HandshakeProblem.describe(event)); the subscription receives nothing until it is accepted: trying again in \(delay), then less and less often (every \(Self.maxRetryDelay) at most)"
        )
    }

    /// Disconnects the socket from the endpoint (whatever is left of the refused connection) and connects it anew.
    private func connectAgain() async {
        let endpoint = self.endpoint
        let handle = self.handle
        guard
            state.withLock({ s in
                defer { s.retry = nil }
                return !s.closed
            })
        else { return }
        do {
            try await loop.perform { io in
                guard let socket = io.socket(handle) else { return }
                // ENOENT when libzmq already forgot the refused connection: nothing to disconnect.
                try? socket.disconnect(endpoint)
                try socket.connect(endpoint)
            }
        } catch {
            logger.warning("\(endpoint): cannot connect the subscription again: \(error)")
        }
    }
}

/// What a failed security handshake with the coordinator means, for a person.
enum HandshakeProblem {
    /// Explains a `handshakeFailed…` monitor event.
    static func describe(_ event: MonitorEvent) -> String {
        if event.kind.contains(.handshakeFailedAuth) {
            return
                "the coordinator refused this connection's key (ZAP status \(event.value)): the key is not in its allow-list, or its role may not use this endpoint"
        }
        if event.kind.contains(.handshakeFailedProtocol) {
            return
                "the security handshake failed (ZMTP error 0x\(String(event.value, radix: 16))): either the coordinator uses CURVE keys and this peer has none (pass --key-file and --coordinator-key, or FLOWPOOL_KEY_FILE and FLOWPOOL_COORDINATOR_KEY), or this peer has keys and the coordinator has none"
        }
        return
            "the security handshake with the coordinator failed: either only one side uses CURVE keys (pass --key-file and --coordinator-key when the coordinator has keys, none when it has not), or --coordinator-key is not the coordinator's public key"
    }
}

import FlowCore
import Logging
import Synchronization
import ZeroMQ

/// A DEALER connection to a coordinator's control endpoint, matching replies to requests by id.
///
/// Replies are resolved on the loop thread by a handler, so no task is needed to read the socket. Pushed
/// `result` messages wait for their submitter in a bounded table.
final class ControlConnection: Sendable {
    struct Replay: Sendable {
        var events: [RawEvent]
        var missing: [String]
    }

    private struct State {
        var waiters: [String: CheckedContinuation<ControlReply, any Error>] = [:]
        /// Deadlines of requests sent with ``ControlConnection/send(_:deadline:)``, checked by ``sweep(now:)``.
        var deadlines: [String: Double] = [:]
        var resultWaiters: [String: CheckedContinuation<RunResult, any Error>] = [:]
        var earlyResults: [String: RunResult] = [:]
        var replays: [String: [RawEvent]] = [:]
        var closed = false
        /// Accepted submits whose result this connection waits for, by request id: submitted again (with their
        /// run id, so idempotently) when the connection comes back after a break.
        var unanswered: [String: SubmitRequest] = [:]
        /// Whether the connection broke since it was last up.
        var broken = false
        /// The last failed handshake (keys refused or not matching), until one succeeds.
        var handshakeFailure: MonitorEvent?
        /// The `hello` to send again after a break (the coordinator may be another process by then).
        var hello: ControlRequest?
    }

    /// Results kept for submitters that have not started waiting yet.
    static let maxEarlyResults = 1_000_000

    let loop: SocketLoop
    let handle: SocketLoop.SocketHandle
    let endpoint: String
    let logger: Logger
    private let state = Mutex(State())
    private let nextId = Atomic<Int>(0)
    private let prefix: String

    private init(loop: SocketLoop, handle: SocketLoop.SocketHandle, endpoint: String, logger: Logger, prefix: String) {
        self.loop = loop
        self.handle = handle
        self.endpoint = endpoint
        self.logger = logger
        self.prefix = prefix
    }

    /// Connects a DEALER to `endpoint` on `loop`.
    static func open(
        context: Context,
        loop: SocketLoop,
        endpoint: String,
        keys: PoolKeys? = nil,
        logger: Logger
    ) throws -> ControlConnection {
        let socket = try Socket(context, .dealer)
        try keys?.secure(socket)
        try socket.set(.sendHighWaterMark(100_000))
        try socket.set(.receiveHighWaterMark(100_000))
        try socket.set(.reconnectInterval(100))
        try socket.set(.reconnectIntervalMax(2000))
        try socket.connect(endpoint)
        let monitor = try socket.monitor([.disconnected, .handshakeSucceeded, .handshakeFailed])
        let box = Mutex<ControlConnection?>(nil)
        let handle = try loop.add(socket, maxFrames: 2 * 512 + 2, outboundCapacity: 100_000) { frames, _ in
            box.withLock { $0 }?.handle(frames)
        }
        _ = try loop.add(monitor, maxFrames: 4, outboundCapacity: 1) { frames, _ in
            guard let event = MonitorEvent(frames: frames) else { return }
            box.withLock { $0 }?.connectionEvent(event)
        }
        var generator = SystemRandomNumberGenerator()
        let value: UInt32 = generator.next()
        let connection = ControlConnection(
            loop: loop,
            handle: handle,
            endpoint: endpoint,
            logger: logger,
            prefix: String(value, radix: 36)
        )
        box.withLock { $0 = connection }
        return connection
    }

    // MARK: Breaks

    /// Remembers the `hello` to repeat after a break.
    func rememberHello(_ hello: ControlRequest) { state.withLock { $0.hello = hello } }

    /// Remembers an accepted submit until its result arrives (with the run id the coordinator confirmed).
    func track(_ request: SubmitRequest) {
        guard request.reply, request.runId != nil else { return }
        state.withLock { $0.unanswered[request.id] = request }
    }

    /// Why the last handshake with the coordinator failed, when the last one did: for the error of a request that
    /// got no reply.
    var handshakeProblem: String? {
        guard let event = state.withLock({ $0.handshakeFailure }) else { return nil }
        return HandshakeProblem.describe(event)
    }

    /// The connection broke or came back (on the loop thread). When it comes back — a coordinator restarted on
    /// its journal, or a network that healed — the `hello` is repeated and every run still waited for is
    /// submitted again under its run id: the coordinator answers with that run (`existing`) and pushes its
    /// result here, at once when it has one.
    private func connectionEvent(_ event: MonitorEvent) {
        if !event.kind.isDisjoint(with: .handshakeFailed) {
            // The first failure that says why is logged (one without detail may come first).
            let first = state.withLock { s in
                defer { s.handshakeFailure = event }
                return s.handshakeFailure.map { $0.kind.contains(.handshakeFailedNoDetail) } ?? true
            }
            if first, !event.kind.contains(.handshakeFailedNoDetail) {
                logger.warning("\(endpoint): \(handshakeProblem ?? "handshake failed")")
            }
            return
        }
        if event.kind.contains(.disconnected) {
            // A failed handshake closes the connection; it was logged as such.
            if state.withLock({ $0.handshakeFailure != nil }) { return }
            let first = state.withLock { s in
                defer { s.broken = true }
                return !s.broken
            }
            if first { logger.warning("lost the connection to the coordinator at \(endpoint); reconnecting") }
            return
        }
        guard event.kind.contains(.handshakeSucceeded) else { return }
        let (wasBroken, hello, pending) = state.withLock { s in
            defer {
                s.broken = false
                s.handshakeFailure = nil
            }
            return (s.broken, s.hello, s.broken ? Array(s.unanswered.values) : [])
        }
        guard wasBroken else { return }
        logger.notice(
            "connected to the coordinator at \(endpoint) again; asking again for the results of \(pending.count) runs"
        )
        if let hello { _ = loop.trySend([hello.frame], on: handle) }
        // In `submit_batch` messages of at most 1,000 runs and about 1 MiB (well within the coordinator's message
        // limit, 4 MiB by default, whatever the inputs).
        var chunk: [SubmitRequest] = []
        var bytes = 0
        for request in pending {
            let size = 256 + request.input.approximateByteCount
            if !chunk.isEmpty, chunk.count == 1000 || bytes + size > 1 << 20 {
                _ = loop.trySend([ControlRequest.submitBatch(id: makeId(), runs: chunk).frame], on: handle)
                chunk = []
                bytes = 0
            }
            chunk.append(request)
            bytes += size
        }
        if !chunk.isEmpty {
            _ = loop.trySend([ControlRequest.submitBatch(id: makeId(), runs: chunk).frame], on: handle)
        }
    }

    /// A fresh request id.
    func makeId() -> String { "\(prefix)-\(nextId.wrappingAdd(1, ordering: .relaxed).newValue)" }

    // MARK: Requests

    /// Sends a request and waits for the reply with the same id.
    func request(_ request: ControlRequest, timeout: Duration) async throws -> ControlReply {
        let id = request.id
        return try await withTimeout(timeout, what: "reply to \(Self.op(request))") {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<ControlReply, any Error>) in
                    let closed = self.state.withLock { state in
                        if state.closed { return true }
                        state.waiters[id] = c
                        return false
                    }
                    if closed {
                        c.resume(throwing: PoolError(.closed, "the connection to \(self.endpoint) is closed"))
                        return
                    }
                    if !self.loop.trySend([request.frame], on: self.handle) {
                        self.state.withLock { _ = $0.waiters.removeValue(forKey: id) }
                        c.resume(throwing: PoolError(.closed, "cannot queue a request to \(self.endpoint)"))
                    }
                }
            } onCancel: {
                let c = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                c?.resume(throwing: CancellationError())
            }
        }
    }

    /// Sends a request and waits for its reply without a timer task per request: the deadline is checked by
    /// ``sweep(now:)``, which the owner calls periodically.
    func send(_ request: ControlRequest, timeout: Duration) async throws -> ControlReply {
        let id = request.id
        let deadline = WallClock.monotonic + timeout.seconds
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<ControlReply, any Error>) in
                let closed = state.withLock { state in
                    if state.closed { return true }
                    state.waiters[id] = c
                    state.deadlines[id] = deadline
                    return false
                }
                if closed {
                    c.resume(throwing: PoolError(.closed, "the connection to \(endpoint) is closed"))
                    return
                }
                if !loop.trySend([request.frame], on: handle) {
                    state.withLock {
                        _ = $0.waiters.removeValue(forKey: id)
                        _ = $0.deadlines.removeValue(forKey: id)
                    }
                    c.resume(throwing: PoolError(.closed, "cannot queue a request to \(endpoint)"))
                }
            }
        } onCancel: {
            let c = state.withLock { state in
                state.deadlines.removeValue(forKey: id)
                return state.waiters.removeValue(forKey: id)
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Fails the requests sent with ``send(_:timeout:)`` whose deadline has passed.
    func sweep(now: Double) {
        let expired: [(String, CheckedContinuation<ControlReply, any Error>)] = state.withLock { state in
            var expired: [(String, CheckedContinuation<ControlReply, any Error>)] = []
            for (id, deadline) in state.deadlines where deadline < now {
                state.deadlines.removeValue(forKey: id)
                if let c = state.waiters.removeValue(forKey: id) { expired.append((id, c)) }
            }
            return expired
        }
        for (id, c) in expired {
            c.resume(throwing: PoolError(.timeout, "no reply to request \(id) from \(endpoint) in time"))
        }
    }

    /// Sweeps expired requests every 100 ms until cancelled or closed.
    func runSweeper() async {
        while !Task.isCancelled && !state.withLock({ $0.closed }) {
            try? await Task.sleep(for: .milliseconds(100))
            sweep(now: WallClock.monotonic)
        }
    }

    /// Waits for the pushed `result` of the submit with request id `id`.
    func result(for id: String) async throws -> RunResult {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<RunResult, any Error>) in
                let early: RunResult?? = state.withLock { state in
                    if let r = state.earlyResults.removeValue(forKey: id) { return .some(r) }
                    if state.closed { return .some(nil) }
                    state.resultWaiters[id] = c
                    return nil
                }
                switch early {
                case .some(.some(let r)): c.resume(returning: r)
                case .some(.none): c.resume(throwing: PoolError(.closed, "the connection is closed"))
                case .none: break
                }
            }
        } onCancel: {
            let c = state.withLock { $0.resultWaiters.removeValue(forKey: id) }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Asks for stored events and collects every batch.
    func replay(_ request: ReplayRequest, timeout: Duration) async throws -> Replay {
        let reply = try await self.request(.replay(request), timeout: timeout)
        switch reply {
        case .replayBatch(let batch): return Replay(events: batch.events, missing: batch.missing)
        case .error(_, let code, let message): throw PoolError(.rejected, message, remoteCode: code)
        default: throw PoolError(.protocolError, "unexpected reply to replay")
        }
    }

    /// Fails every waiter and refuses new requests.
    func close() {
        let (waiters, results) = state.withLock { state in
            state.closed = true
            defer {
                state.waiters = [:]
                state.resultWaiters = [:]
            }
            return (Array(state.waiters.values), Array(state.resultWaiters.values))
        }
        let error = PoolError(.closed, "the connection to \(endpoint) was closed")
        for w in waiters { w.resume(throwing: error) }
        for w in results { w.resume(throwing: error) }
        loop.remove(handle)
    }

    // MARK: Replies (loop thread)

    /// Hands pushed results to whoever waits for them, or keeps them until someone asks.
    private func deliver(_ results: [RunResult]) {
        var answers: [(CheckedContinuation<ControlReply, any Error>, RunResult)] = []
        let ready: [(CheckedContinuation<RunResult, any Error>, RunResult)] = state.withLock { state in
            var ready: [(CheckedContinuation<RunResult, any Error>, RunResult)] = []
            for result in results {
                state.unanswered.removeValue(forKey: result.id)
                if let w = state.waiters.removeValue(forKey: result.id) {
                    // The answer to a `get_result` request.
                    state.deadlines.removeValue(forKey: result.id)
                    answers.append((w, result))
                } else if let w = state.resultWaiters.removeValue(forKey: result.id) {
                    ready.append((w, result))
                } else if state.earlyResults.count < Self.maxEarlyResults {
                    state.earlyResults[result.id] = result
                }
            }
            return ready
        }
        for (waiter, result) in ready { waiter.resume(returning: result) }
        for (waiter, result) in answers { waiter.resume(returning: .result(result)) }
    }

    private func handle(_ frames: [[UInt8]]) {
        let reply: ControlReply
        do {
            reply = try ControlReply.decode(frames)
        } catch {
            logger.warning("undecodable reply from \(endpoint): \(error)")
            return
        }
        switch reply {
        case .result(let result):
            deliver([result])
        case .resultBatch(let results):
            deliver(results)
        case .replayBatch(let batch):
            let complete: (CheckedContinuation<ControlReply, any Error>, ReplayBatch)? = state.withLock { state in
                state.replays[batch.id, default: []] += batch.events
                guard batch.last else { return nil }
                let events = state.replays.removeValue(forKey: batch.id) ?? []
                guard let w = state.waiters.removeValue(forKey: batch.id) else { return nil }
                return (w, ReplayBatch(id: batch.id, events: events, last: true, missing: batch.missing))
            }
            if let (w, whole) = complete { w.resume(returning: .replayBatch(whole)) }
        default:
            guard let id = reply.id else {
                logger.warning("reply without id from \(endpoint): \(reply)")
                return
            }
            let w = state.withLock { state in
                state.deadlines.removeValue(forKey: id)
                return state.waiters.removeValue(forKey: id)
            }
            w?.resume(returning: reply)
        }
    }

    private static func op(_ request: ControlRequest) -> String {
        switch request {
        case .hello: "hello"
        case .submit: "submit"
        case .submitBatch: "submit_batch"
        case .status: "status"
        case .replay: "replay"
        case .getResult: "get_result"
        case .cancel: "cancel"
        case .subscriberReport: "subscriber_report"
        }
    }
}

/// Runs `body`, failing with ``PoolError/Code/timeout`` if it takes longer than `timeout`.
func withTimeout<T: Sendable>(
    _ timeout: Duration,
    what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw PoolError(.timeout, "no \(what) within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

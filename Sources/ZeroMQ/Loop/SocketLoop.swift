import Logging
import Synchronization

/// Owns a set of sockets on one dedicated thread that loops on `zmq_poll`, and bridges them to async code.
///
/// ZeroMQ sockets are single-threaded and their calls block, so they must not live on Swift's
/// cooperative pool. A `SocketLoop` runs its own OS thread; sockets are handed to it (`sending`) and from
/// then on only that thread touches them. Async code talks to the loop through a bounded queue per
/// socket plus a wake-up descriptor polled next to the sockets:
///
/// - **Inbound** (``addStream(_:policy:maxFrames:outboundCapacity:)``): messages arrive as
///   ``InboundMessages``, an `AsyncSequence` fed in batches (up to `batchSize` messages per socket per
///   wake-up, one continuation resumption per batch), bounded per ``InboundPolicy``.
/// - **Inbound on the loop thread** (``add(_:maxFrames:outboundCapacity:handler:)``): a synchronous
///   ``Handler`` runs for each message on the loop thread itself and may send on any socket of the loop
///   (forwarding without a thread hop); ``addForwarder(frontend:backend:maxFrames:inspect:)`` builds an
///   XSUB/XPUB event bus from two such handlers.
/// - **Outbound** (``send(_:on:)``, ``send(contentsOf:on:)``, ``trySend(_:on:)``,
///   ``sendConfirmed(_:on:)``): messages join the socket's queue, bounded by `outboundCapacity` messages
///   (a caller that finds it full suspends until there is room; `trySend` returns `false` instead), and
///   are sent with `ZMQ_DONTWAIT`; when libzmq pushes back (high-water mark, no peer) the loop waits for
///   `ZMQ_POLLOUT`, so the queue fills and senders slow down. Many messages cost one wake-up.
///
/// ```swift
/// try await withSocketLoop(context: context, name: "coordinator", logger: logger) { loop in
///     let pull = try Socket(context, .pull)
///     let endpoint = try pull.bind("tcp://127.0.0.1:*")
///     let (_, inbox) = try loop.addStream(pull)
///     let push = try Socket(context, .push)
///     try push.connect(endpoint)
///     let out = try loop.add(push)
///     try await loop.send([Array("hello".utf8)], on: out)
///     for await message in inbox { print(message); break }
/// }
/// ```
///
/// Call ``shutdown()`` (or use ``withSocketLoop(context:name:batchSize:logger:_:)``) to stop the thread:
/// it finishes every ``InboundMessages``, fails waiting senders with ``ZeroMQError/Code/loopStopped``,
/// drops unsent messages (sockets linger as configured) and closes its sockets. A loop that is dropped
/// without `shutdown()` is asked to stop as well. ``Context/shutdown()`` also stops the loop.
public final class SocketLoop: Sendable {
    /// Identifies a socket owned by a loop.
    public struct SocketHandle: Sendable, Hashable, CustomStringConvertible {
        let id: Int
        public var description: String { "socket#\(id)" }
    }

    /// How a socket's inbound messages are buffered for an async consumer.
    public enum InboundPolicy: Sendable, Hashable {
        /// Keep at most `capacity` messages; while full, stop reading the socket so ZeroMQ's high-water
        /// marks push back on the sender. For reliable paths (jobs, results, requests).
        case backpressure(capacity: Int)
        /// Keep at most `capacity` messages; while full, keep reading and drop (and count) new ones.
        /// For paths that must never slow the sender (event subscriptions).
        case dropNewest(capacity: Int)
    }

    /// A synchronous per-message callback run on the loop thread; it may send through `io`.
    public typealias Handler = @Sendable (_ message: [[UInt8]], _ io: SocketLoop.IO) -> Void

    /// Counters since the loop started.
    public struct Statistics: Sendable, Hashable {
        /// Messages received from all sockets.
        public var received: Int
        /// Messages sent on all sockets.
        public var sent: Int
        /// Inbound messages dropped by `dropNewest` buffers.
        public var inboundDropped: Int
        /// Inbound messages discarded because they had more frames than allowed.
        public var oversizedDiscarded: Int
        /// Outbound messages that libzmq refused (e.g. `hostUnreachable`) or that were dropped.
        public var outboundFailed: Int
    }

    let shared: LoopShared
    private let thread = Mutex<OwnedThread?>(nil)
    private let name: String
    private let context: Context
    private let logger: Logger

    /// Creates a loop; call ``start()`` to run its thread.
    ///
    /// - Parameters:
    ///   - context: The context of the sockets it will own (kept alive by the loop).
    ///   - name: The thread's name (shown by debuggers, at most 15 characters kept on Linux).
    ///   - batchSize: The most messages read from one socket per poll wake-up.
    ///   - logger: Receives errors the loop cannot report to a caller.
    public init(context: Context, name: String, batchSize: Int = 256, logger: Logger) throws {
        self.shared = LoopShared(wake: try WakeSignal(), batchSize: max(1, batchSize))
        self.name = name
        self.context = context
        self.logger = logger
    }

    deinit { shared.requestShutdown() }

    /// Starts the loop's thread. Calling it twice is harmless.
    public func start() {
        thread.withLock { thread in
            guard thread == nil else { return }
            let shared = self.shared
            let logger = self.logger
            let context = self.context
            thread = OwnedThread(name: name) {
                LoopCore(shared: shared, context: context, logger: logger).run()
            }
        }
    }

    /// Stops the loop and waits (without blocking a thread) until its thread has closed its sockets.
    public func shutdown() async {
        shared.requestShutdown()
        let running = thread.withLock { $0 }
        await running?.join()
    }

    /// Counters since the loop started.
    public var statistics: Statistics { shared.statistics }

    /// An executor that runs tasks on this loop's thread (see ``LoopExecutor``).
    public var executor: LoopExecutor { shared.executor }

    /// Whether the caller runs on this loop's thread (a ``Handler``, the timer, or a task on ``executor``).
    public var isCurrentThread: Bool { shared.wake.isOwnedByCurrentThread }

    /// How long the loop thread has been running jobs of its ``executor`` without coming back to its sockets,
    /// in seconds (0 while it is not running any). Long only when a job computes without suspending: the
    /// loop neither polls, sends nor fires its timer meanwhile. Readable from any thread.
    public var executorBusySeconds: Double {
        let started = shared.jobsStartedAt.load(ordering: .relaxed)
        guard started > 0 else { return 0 }
        let now = LoopCore.monotonicNanoseconds()
        return now > started ? Double(now - started) / 1e9 : 0
    }

    /// Sets a callback that runs on the loop thread every `interval`, replacing any earlier one.
    ///
    /// The loop's own thread keeps time, so the callback runs on schedule even when Swift's cooperative pool
    /// is saturated — for liveness signals such as heartbeats. It must return quickly; it may send through
    /// its `IO`.
    public func setTimer(every interval: Duration, _ body: @escaping @Sendable (IO) -> Void) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18
        let timer = LoopShared.Timer(interval: max(0.001, seconds), body)
        shared.timer.withLock { $0 = timer }
        shared.wake.wake()
    }

    /// Removes the timer set with ``setTimer(every:_:)``.
    public func cancelTimer() {
        shared.timer.withLock { $0 = nil }
    }

    /// Sets a callback that runs on the loop thread at the end of every poll round in which a ``Handler``
    /// handled at least one message, before the loop sends what the round queued.
    ///
    /// Handlers that accumulate output (for example events to publish in batches) flush it here: whatever
    /// one round of reading produced leaves together, and nothing waits for a later round.
    public func setRoundEnd(_ body: @escaping @Sendable (IO) -> Void) {
        let box = LoopShared.RoundEnd(body)
        shared.roundEnd.withLock { $0 = box }
    }

    /// Hands a socket to the loop for sending only.
    ///
    /// - Parameters:
    ///   - socket: The socket; the loop owns and closes it from now on.
    ///   - outboundCapacity: The most messages queued for it before senders wait.
    /// - Returns: The handle to send with.
    /// - Throws: ``ZeroMQError`` with `loopStopped` after ``shutdown()``.
    public func add(_ socket: sending Socket, outboundCapacity: Int = 1024) throws -> SocketHandle {
        try shared.add(Transfer(socket), receiver: .none, maxFrames: 0, outboundCapacity: outboundCapacity)
    }

    /// Hands a socket to the loop and returns its inbound messages as an async sequence.
    ///
    /// - Parameters:
    ///   - socket: The socket; the loop owns and closes it from now on.
    ///   - policy: How inbound messages are bounded (see ``InboundPolicy``).
    ///   - maxFrames: The most frames a message may have; longer ones are discarded and counted.
    ///   - outboundCapacity: The most messages queued for sending on it before senders wait.
    public func addStream(
        _ socket: sending Socket,
        policy: InboundPolicy = .backpressure(capacity: 1024),
        maxFrames: Int = 64,
        outboundCapacity: Int = 1024
    ) throws -> (handle: SocketHandle, messages: InboundMessages) {
        let buffer: InboundBuffer
        switch policy {
        case .backpressure(let capacity):
            buffer = InboundBuffer(capacity: capacity, dropsWhenFull: false, wake: shared.wake)
        case .dropNewest(let capacity):
            buffer = InboundBuffer(capacity: capacity, dropsWhenFull: true, wake: shared.wake)
        }
        let handle = try shared.add(
            Transfer(socket),
            receiver: .stream(buffer),
            maxFrames: maxFrames,
            outboundCapacity: outboundCapacity
        )
        return (handle, InboundMessages(buffer: buffer))
    }

    /// Hands a socket to the loop and runs `handler` on the loop thread for each inbound message.
    ///
    /// The handler must be quick and must not block: it runs between polls of every socket of the loop.
    ///
    /// With `readsUserId`, the loop reads each message's `User-Id` property (the id a ZAP handler gave the
    /// peer's connection) and the handler finds it in ``IO/userId``.
    public func add(
        _ socket: sending Socket,
        maxFrames: Int = 64,
        outboundCapacity: Int = 1024,
        readsUserId: Bool = false,
        handler: @escaping Handler
    ) throws -> SocketHandle {
        try shared.add(
            Transfer(socket),
            receiver: .handler(handler, readsUserId: readsUserId),
            maxFrames: maxFrames,
            outboundCapacity: outboundCapacity
        )
    }

    /// Closes a socket on the loop thread; its ``InboundMessages`` end and queued messages are dropped.
    public func remove(_ handle: SocketHandle) {
        shared.enqueue(command: .remove(handle.id))
    }

    /// Queues one message, suspending while the socket's outbound queue is full.
    ///
    /// Returns once the message is queued, not sent: delivery failures are counted in ``statistics``.
    /// - Throws: `loopStopped`, `socketNotFound`, or `CancellationError` when cancelled while waiting.
    public func send(_ message: [[UInt8]], on handle: SocketHandle) async throws {
        try await shared.enqueue([Outgoing(frames: message, confirm: nil)], on: handle.id)
    }

    /// Queues many messages with one wake-up of the loop, suspending while the queue is full.
    ///
    /// A batch that does not fit waits whole and is admitted as soon as the queue has room, so the queue
    /// may briefly hold `outboundCapacity` plus one batch.
    public func send(contentsOf messages: [[[UInt8]]], on handle: SocketHandle) async throws {
        guard !messages.isEmpty else { return }
        try await shared.enqueue(messages.map { Outgoing(frames: $0, confirm: nil) }, on: handle.id)
    }

    /// Queues many messages with one wake-up of the loop, suspending while the queue is full, and calls
    /// `whenSent` on the loop thread once libzmq has taken the last of them or refused it (or the loop stopped):
    /// the sender learns when its messages have left the loop's queue without waiting for it. With no messages,
    /// `whenSent` runs at once on the caller's thread.
    public func send(
        contentsOf messages: [[[UInt8]]],
        on handle: SocketHandle,
        whenSent: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) async throws {
        guard !messages.isEmpty else { return whenSent(.success(())) }
        var outgoing = messages.map { Outgoing(frames: $0, confirm: nil) }
        outgoing[outgoing.count - 1].confirm = Confirmation(handler: whenSent)
        try await shared.enqueue(outgoing, on: handle.id)
    }

    /// Queues one message if there is room now.
    ///
    /// - Returns: `false` when the queue is full, the socket is unknown, or the loop has stopped.
    @discardableResult
    public func trySend(_ message: [[UInt8]], on handle: SocketHandle) -> Bool {
        shared.tryEnqueue(Outgoing(frames: message, confirm: nil), on: handle.id)
    }

    /// Queues one message and waits until libzmq has accepted it or refused it.
    ///
    /// - Throws: The ``ZeroMQError`` of the send (e.g. `hostUnreachable` from a ROUTER with
    ///   `routerMandatory`), `loopStopped`, or `CancellationError` while waiting for room.
    public func sendConfirmed(_ message: [[UInt8]], on handle: SocketHandle) async throws {
        let confirmation = Confirmation()
        try await shared.enqueue([Outgoing(frames: message, confirm: confirmation)], on: handle.id)
        try await confirmation.wait()
    }

    /// Runs `body` on the loop thread and returns its result, e.g. to subscribe, connect or read an option.
    ///
    /// ```swift
    /// try await loop.perform { io in try io.socket(sub)?.subscribe("sales_agent/") }
    /// ```
    public func perform<T: Sendable>(_ body: @escaping @Sendable (IO) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = shared.enqueue(
                command: .perform({ io in continuation.resume(with: Result { try body(io) }) })
            )
            if !accepted {
                continuation.resume(
                    throwing: ZeroMQError(.loopStopped, "the socket loop has stopped", operation: "perform")
                )
            }
        }
    }
}

/// Runs `body` with a started ``SocketLoop`` and shuts the loop down afterwards, also on error.
public func withSocketLoop<T: Sendable>(
    context: Context,
    name: String,
    batchSize: Int = 256,
    logger: Logger,
    _ body: (SocketLoop) async throws -> T
) async throws -> T {
    let loop = try SocketLoop(context: context, name: name, batchSize: batchSize, logger: logger)
    loop.start()
    do {
        let result = try await body(loop)
        await loop.shutdown()
        return result
    } catch {
        await loop.shutdown()
        throw error
    }
}

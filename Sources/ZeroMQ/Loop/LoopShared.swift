import Synchronization

/// The state a ``SocketLoop`` shares between async callers and its thread, guarded by a mutex.
final class LoopShared: Sendable {
    enum Receiver: Sendable {
        case none
        case stream(InboundBuffer)
        /// `readsUserId`: the loop reads each message's `User-Id` property for ``SocketLoop/IO/userId``.
        case handler(SocketLoop.Handler, readsUserId: Bool)
    }

    struct Registration: Sendable {
        let id: Int
        let socket: Transfer<Socket>
        let receiver: Receiver
        let maxFrames: Int
    }

    enum Command: Sendable {
        case add(Registration)
        case remove(Int)
        case perform(@Sendable (SocketLoop.IO) -> Void)
        case shutdown
    }

    struct Waiter {
        let id: Int
        let messages: [Outgoing]
        let continuation: CheckedContinuation<Void, any Error>
    }

    struct OutboundQueue {
        let capacity: Int
        /// Queued by callers, not yet taken by the loop thread.
        var queued: [Outgoing] = []
        /// Queued and not yet sent or failed (including what the loop thread holds).
        var inFlight = 0
        /// Callers waiting for room, first come first served.
        var waiters: [Waiter] = []

        var hasRoom: Bool { waiters.isEmpty && inFlight < capacity }
    }

    struct State {
        var stopped = false
        var commands: [Command] = []
        var outbound: [Int: OutboundQueue] = [:]
        var nextID = 1
    }

    let state = Mutex(State())
    let wake: WakeSignal
    let batchSize: Int
    let received = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let oversized = Atomic<Int>(0)
    let outboundFailed = Atomic<Int>(0)
    let inboundDroppedByClosedStreams = Atomic<Int>(0)
    /// When the loop thread began running the jobs queued on its ``LoopExecutor`` (monotonic nanoseconds), or 0
    /// while it does something else: a value that stays is a job that does not return to the loop.
    let jobsStartedAt = Atomic<UInt64>(0)
    /// Runs on the loop thread after each poll round in which a handler ran (see ``SocketLoop/setRoundEnd(_:)``).
    /// Boxed: the closure is stored once and only the reference is read back, so reading it never wraps it in
    /// another reabstraction thunk.
    let roundEnd = Mutex<RoundEnd?>(nil)

    /// A callback run on the loop thread every `interval` seconds (see ``SocketLoop/setTimer(every:_:)``).
    let timer = Mutex<Timer?>(nil)

    final class Timer: Sendable {
        let interval: Double
        let body: @Sendable (SocketLoop.IO) -> Void
        init(interval: Double, _ body: @escaping @Sendable (SocketLoop.IO) -> Void) {
            self.interval = interval
            self.body = body
        }
    }

    final class RoundEnd: Sendable {
        let body: @Sendable (SocketLoop.IO) -> Void
        init(_ body: @escaping @Sendable (SocketLoop.IO) -> Void) { self.body = body }
    }
    private let buffers = Mutex<[InboundBuffer]>([])

    /// Runs tasks' jobs on the loop thread (see ``LoopExecutor``).
    let executor: LoopExecutor

    init(wake: WakeSignal, batchSize: Int) {
        self.wake = wake
        self.batchSize = batchSize
        self.executor = LoopExecutor(wake: wake)
    }

    var statistics: SocketLoop.Statistics {
        let dropped = buffers.withLock { $0.reduce(0) { $0 + $1.dropped.load(ordering: .relaxed) } }
        return SocketLoop.Statistics(
            received: received.load(ordering: .relaxed),
            sent: sent.load(ordering: .relaxed),
            inboundDropped: dropped,
            oversizedDiscarded: oversized.load(ordering: .relaxed),
            outboundFailed: outboundFailed.load(ordering: .relaxed)
        )
    }

    static func stoppedError(_ operation: String) -> ZeroMQError {
        ZeroMQError(.loopStopped, "the socket loop has stopped", operation: operation)
    }

    func add(
        _ socket: Transfer<Socket>,
        receiver: Receiver,
        maxFrames: Int,
        outboundCapacity: Int,
        reservedID: Int? = nil
    ) throws -> SocketLoop.SocketHandle {
        let id: Int? = state.withLock { state in
            guard !state.stopped else { return nil }
            let id = reservedID ?? state.nextID
            if reservedID == nil { state.nextID += 1 }
            state.outbound[id] = OutboundQueue(capacity: max(1, outboundCapacity))
            state.commands.append(
                .add(Registration(id: id, socket: socket, receiver: receiver, maxFrames: max(1, maxFrames)))
            )
            return id
        }
        guard let id else { throw Self.stoppedError("add socket") }
        if case .stream(let buffer) = receiver { buffers.withLock { $0.append(buffer) } }
        wake.wake()
        return SocketLoop.SocketHandle(id: id)
    }

    /// Reserves a socket id for a later ``add(_:receiver:maxFrames:outboundCapacity:reservedID:)``.
    func reserveID() -> Int {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    /// Queues a command; `false` when the loop has stopped.
    @discardableResult
    func enqueue(command: Command) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.commands.append(command)
            return true
        }
        if accepted { wake.wake() }
        return accepted
    }

    func requestShutdown() {
        enqueue(command: .shutdown)
    }

    /// Queues one message if there is room now.
    func tryEnqueue(_ outgoing: Outgoing, on id: Int) -> Bool {
        let accepted = state.withLock { state in
            guard !state.stopped, state.outbound[id]?.hasRoom == true else { return false }
            state.outbound[id]!.queued.append(outgoing)
            state.outbound[id]!.inFlight += 1
            return true
        }
        if accepted { wake.wake() }
        return accepted
    }

    /// Queues messages, waiting for room when the queue is full.
    func enqueue(_ messages: [Outgoing], on id: Int) async throws {
        enum Outcome {
            case queued
            case failed(ZeroMQError)
            case wait
        }
        let outcome: Outcome = state.withLock { state in
            guard !state.stopped else { return .failed(Self.stoppedError("send")) }
            guard state.outbound[id] != nil else {
                return .failed(ZeroMQError(.socketNotFound, "no socket #\(id) in this loop", operation: "send"))
            }
            guard state.outbound[id]!.hasRoom else { return .wait }
            state.outbound[id]!.queued.append(contentsOf: messages)
            state.outbound[id]!.inFlight += messages.count
            return .queued
        }
        switch outcome {
        case .queued:
            wake.wake()
            return
        case .failed(let error):
            throw error
        case .wait:
            break
        }
        let waiterID = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: Result<Void, any Error>? = state.withLock { state in
                    if state.stopped { return .failure(Self.stoppedError("send")) }
                    guard state.outbound[id] != nil else {
                        return .failure(
                            ZeroMQError(.socketNotFound, "no socket #\(id) in this loop", operation: "send")
                        )
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.outbound[id]!.hasRoom {
                        state.outbound[id]!.queued.append(contentsOf: messages)
                        state.outbound[id]!.inFlight += messages.count
                        return .success(())
                    }
                    state.outbound[id]!.waiters.append(
                        Waiter(id: waiterID, messages: messages, continuation: continuation)
                    )
                    return nil
                }
                if let immediate {
                    if case .success = immediate { wake.wake() }
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.outbound[id]?.waiters.firstIndex(where: { $0.id == waiterID }) else {
                    return nil
                }
                return state.outbound[id]!.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

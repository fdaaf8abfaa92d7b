import CZeroMQ
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The part of a ``SocketLoop`` that lives on its thread: the sockets and the poll loop.
///
/// Created and used only on the loop thread, so it needs no synchronisation; it talks to callers only
/// through ``LoopShared`` and the ``InboundBuffer``s.
final class LoopCore {
    final class Entry {
        let id: Int
        let socket: Socket
        let receiver: LoopShared.Receiver
        let maxFrames: Int
        let capacity: Int
        var pending: [Outgoing] = []
        var pendingHead = 0
        var localPending = 0
        var paused = false
        var knownRoom = 0
        var removed = false
        /// When the loop last found no message waiting on the socket (monotonic seconds; 0: never yet).
        var drainedAt = 0.0

        init(id: Int, socket: Socket, receiver: LoopShared.Receiver, maxFrames: Int, capacity: Int) {
            self.id = id
            self.socket = socket
            self.receiver = receiver
            self.maxFrames = maxFrames
            self.capacity = capacity
        }

        var hasPending: Bool { pendingHead < pending.count }
        var readsInbound: Bool {
            if case .none = receiver { return false }
            return true
        }
    }

    private let shared: LoopShared
    private let context: Context
    private let logger: Logger
    private var entries: [Entry] = []
    private var byID: [Int: Entry] = [:]
    private var running = true
    private var items: [zmq_pollitem_t] = []
    /// Messages given to handlers in the current poll round.
    private var handled = 0
    /// When the timer is due next (monotonic seconds; 0 before the first round with a timer).
    private var nextTimer = 0.0
    /// When the current round's poll returned (monotonic seconds).
    private var roundStart = 0.0
    /// Lines about discarded inbound messages (a peer can send any number).
    private let discardLog = LogThrottle()

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    init(shared: LoopShared, context: Context, logger: Logger) {
        self.shared = shared
        self.context = context
        self.logger = logger
    }

    func run() {
        let wakeItem = zmq_pollitem_t(
            socket: nil,
            fd: shared.wake.readDescriptor,
            events: Int16(ZMQ_POLLIN),
            revents: 0
        )
        shared.wake.adopt()
        processShared()
        while running {
            shared.jobsStartedAt.store(Self.monotonicNanoseconds(), ordering: .relaxed)
            shared.executor.runQueued()
            shared.jobsStartedAt.store(0, ordering: .relaxed)
            let polled = entries
            items.removeAll(keepingCapacity: true)
            items.append(wakeItem)
            for entry in polled {
                var events: Int16 = 0
                if entry.readsInbound && !entry.paused { events |= Int16(ZMQ_POLLIN) }
                if entry.hasPending { events |= Int16(ZMQ_POLLOUT) }
                items.append(zmq_pollitem_t(socket: entry.socket.handle, fd: -1, events: events, revents: 0))
            }
            let timer = shared.timer.withLock { $0 }
            var timeout: Int = -1
            if let timer {
                let now = Self.monotonic()
                if nextTimer == 0 { nextTimer = now + timer.interval }
                if now >= nextTimer {
                    timer.body(SocketLoop.IO(core: self, source: nil))
                    nextTimer = max(nextTimer + timer.interval, now + timer.interval / 2)
                }
                timeout = max(0, Int(((nextTimer - Self.monotonic()) * 1000).rounded(.up)))
            }
            // A wake-up from this thread (a job it ran enqueued another, or queued a message) writes nothing
            // to the descriptor: look without waiting.
            let wokenHere = shared.wake.isPending
            if wokenHere { timeout = 0 }
            let ready = items.withUnsafeMutableBufferPointer {
                zmq_poll($0.baseAddress, Int32($0.count), timeout)
            }
            if ready < 0 {
                let errno = zmq_errno()
                if errno == EINTR { continue }
                if errno != ETERM {
                    logger.error("socket loop poll failed: \(ZeroMQError(errno: errno, operation: "poll"))")
                }
                break
            }
            if items[0].revents != 0 || wokenHere {
                shared.wake.consume()
                processShared()
                guard running else { break }
            }
            handled = 0
            roundStart = Self.monotonic()
            for (index, entry) in polled.enumerated() where !entry.removed {
                if items[index + 1].revents & Int16(ZMQ_POLLIN) != 0 {
                    readBatch(entry)
                } else if entry.readsInbound && !entry.paused {
                    entry.drainedAt = roundStart
                }
            }
            if handled > 0, let roundEnd = shared.roundEnd.withLock({ $0 }) {
                roundEnd.body(SocketLoop.IO(core: self, source: nil))
            }
            for entry in polled where !entry.removed && entry.hasPending {
                flush(entry)
            }
            // Sockets that got messages this round but were not polled yet.
            for entry in entries where entry.hasPending && !polled.contains(where: { $0 === entry }) {
                flush(entry)
            }
        }
        stopAll()
    }

    // MARK: Shared queues

    private func processShared() {
        let (commands, taken): ([LoopShared.Command], [(Int, [Outgoing])]) = shared.state.withLock { state in
            let commands = state.commands
            state.commands = []
            var taken: [(Int, [Outgoing])] = []
            for id in state.outbound.keys where !state.outbound[id]!.queued.isEmpty {
                taken.append((id, state.outbound[id]!.queued))
                state.outbound[id]!.queued = []
            }
            return (commands, taken)
        }
        for command in commands {
            switch command {
            case .add(let registration):
                let entry = Entry(
                    id: registration.id,
                    socket: registration.socket.value,
                    receiver: registration.receiver,
                    maxFrames: registration.maxFrames,
                    capacity: shared.state.withLock { $0.outbound[registration.id]?.capacity ?? 1 }
                )
                entries.append(entry)
                byID[entry.id] = entry
            case .remove(let id):
                removeEntry(id)
            case .perform(let job):
                job(SocketLoop.IO(core: self, source: nil))
            case .shutdown:
                running = false
            }
        }
        for (id, messages) in taken {
            guard let entry = byID[id] else {
                for message in messages {
                    message.confirm?.complete(.failure(LoopShared.stoppedError("send")))
                }
                continue
            }
            entry.pending.append(contentsOf: messages)
        }
        for entry in entries where entry.paused {
            if case .stream(let buffer) = entry.receiver, !buffer.isPaused {
                entry.paused = false
                entry.knownRoom = 0
            }
        }
    }

    private func removeEntry(_ id: Int) {
        guard let entry = byID.removeValue(forKey: id) else { return }
        entry.removed = true
        entries.removeAll { $0 === entry }
        if case .stream(let buffer) = entry.receiver { buffer.finish() }
        let error = ZeroMQError(.socketNotFound, "the socket was removed from the loop", operation: "send")
        failPending(entry, error)
        let waiters: [LoopShared.Waiter] = shared.state.withLock { state in
            let queue = state.outbound.removeValue(forKey: id)
            for message in queue?.queued ?? [] { message.confirm?.complete(.failure(error)) }
            return queue?.waiters ?? []
        }
        for waiter in waiters {
            for message in waiter.messages { message.confirm?.complete(.failure(error)) }
            waiter.continuation.resume(throwing: error)
        }
        entry.socket.close()
    }

    private func failPending(_ entry: Entry, _ error: ZeroMQError) {
        while entry.pendingHead < entry.pending.count {
            entry.pending[entry.pendingHead].confirm?.complete(.failure(error))
            entry.pendingHead += 1
        }
        entry.pending = []
        entry.pendingHead = 0
    }

    private func stopAll() {
        running = false
        shared.executor.stop()
        let error = LoopShared.stoppedError("send")
        let (commands, queues): ([LoopShared.Command], [LoopShared.OutboundQueue]) = shared.state.withLock { state in
            state.stopped = true
            let commands = state.commands
            state.commands = []
            let queues = Array(state.outbound.values)
            state.outbound = [:]
            return (commands, queues)
        }
        for command in commands {
            switch command {
            case .add(let registration):
                if case .stream(let buffer) = registration.receiver { buffer.finish() }
                registration.socket.value.close()
            case .perform(let job):
                job(SocketLoop.IO(core: self, source: nil))
            case .remove, .shutdown:
                break
            }
        }
        for queue in queues {
            for message in queue.queued { message.confirm?.complete(.failure(error)) }
            for waiter in queue.waiters {
                for message in waiter.messages { message.confirm?.complete(.failure(error)) }
                waiter.continuation.resume(throwing: error)
            }
        }
        for entry in entries {
            if case .stream(let buffer) = entry.receiver { buffer.finish() }
            failPending(entry, error)
            entry.socket.close()
        }
        entries = []
        byID = [:]
    }

    // MARK: Inbound

    private func readOne(_ entry: Entry) -> [[UInt8]]? {
        while true {
            do {
                return try entry.socket.tryReceiveMultipart(maxFrames: entry.maxFrames)
            } catch let error as ZeroMQError where error.code == .tooManyFrames {
                shared.oversized.add(1, ordering: .relaxed)
                if let held = discardLog.admit() {
                    logger.warning("discarded inbound message: \(error)\(LogThrottle.suffix(held))")
                }
            } catch let error as ZeroMQError where error.code == .contextTerminated {
                running = false
                return nil
            } catch {
                logger.error("receive failed: \(error)")
                return nil
            }
        }
    }

    private func readBatch(_ entry: Entry) {
        switch entry.receiver {
        case .none:
            return
        case .stream(let buffer):
            var limit = shared.batchSize
            if !buffer.dropsWhenFull {
                if entry.knownRoom == 0 {
                    entry.knownRoom = buffer.roomOrPause()
                    if entry.knownRoom == 0 {
                        entry.paused = true
                        return
                    }
                }
                limit = min(limit, entry.knownRoom)
            }
            var batch: [[[UInt8]]] = []
            batch.reserveCapacity(limit)
            while batch.count < limit, let message = readOne(entry) {
                batch.append(message)
            }
            if batch.count < limit { entry.drainedAt = roundStart }
            guard !batch.isEmpty else { return }
            shared.received.add(batch.count, ordering: .relaxed)
            entry.knownRoom = buffer.deliver(batch)
        case .handler(let handler, let readsUserId):
            let io = SocketLoop.IO(core: self, source: SocketLoop.SocketHandle(id: entry.id))
            var count = 0
            var drained = false
            while count < shared.batchSize {
                guard let message = readOne(entry) else {
                    drained = true
                    break
                }
                count += 1
                if readsUserId { readUserId(entry.socket) }
                handler(message, io)
                currentUserId = nil
            }
            if drained { entry.drainedAt = roundStart }
            handled += count
            shared.received.add(count, ordering: .relaxed)
        }
    }

    /// The `User-Id` of the message being handled (see ``SocketLoop/IO/userId``).
    private(set) var currentUserId: String?
    /// The bytes of the last `User-Id` read, and its string: consecutive messages of one connection make none.
    private var lastUserIdBytes: [UInt8] = []
    private var lastUserId: String?

    /// Sets ``currentUserId`` from the message just read (its last frame is in the socket's scratch message).
    private func readUserId(_ socket: Socket) {
        guard let property = socket.scratch.property("User-Id") else {
            currentUserId = nil
            return
        }
        let length = strlen(property)
        let same = property.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            length == lastUserIdBytes.count && memcmp(bytes, lastUserIdBytes, length) == 0
        }
        if !same {
            lastUserIdBytes = property.withMemoryRebound(to: UInt8.self, capacity: length) {
                Array(UnsafeBufferPointer(start: $0, count: length))
            }
            lastUserId = String(decoding: lastUserIdBytes, as: UTF8.self)
        }
        currentUserId = lastUserId
    }

    // MARK: Outbound

    private func flush(_ entry: Entry) {
        while true {
            var settled = 0
            var blocked = false
            while entry.pendingHead < entry.pending.count {
                let message = entry.pending[entry.pendingHead]
                do {
                    guard try entry.socket.trySend(multipart: message.frames) else {
                        blocked = true
                        break
                    }
                    shared.sent.add(1, ordering: .relaxed)
                    message.confirm?.complete(.success(()))
                } catch {
                    shared.outboundFailed.add(1, ordering: .relaxed)
                    if message.confirm == nil { logger.debug("send on socket#\(entry.id) failed: \(error)") }
                    message.confirm?.complete(.failure(error))
                }
                entry.pendingHead += 1
                if message.local { entry.localPending -= 1 } else { settled += 1 }
            }
            if entry.pendingHead == entry.pending.count {
                entry.pending.removeAll(keepingCapacity: entry.pending.count <= 4096)
                entry.pendingHead = 0
            } else if entry.pendingHead >= 1024 {
                entry.pending.removeFirst(entry.pendingHead)
                entry.pendingHead = 0
            }
            guard settled > 0 else { return }
            let more = settle(entry, count: settled)
            if blocked || !more { return }
        }
    }

    /// Returns sent messages' room to callers; admits waiting senders; takes newly queued messages.
    private func settle(_ entry: Entry, count: Int) -> Bool {
        let (admitted, taken): ([LoopShared.Waiter], [Outgoing]) = shared.state.withLock { state in
            guard state.outbound[entry.id] != nil else { return ([], []) }
            state.outbound[entry.id]!.inFlight -= count
            var admitted: [LoopShared.Waiter] = []
            while let first = state.outbound[entry.id]!.waiters.first,
                state.outbound[entry.id]!.inFlight < state.outbound[entry.id]!.capacity
            {
                state.outbound[entry.id]!.waiters.removeFirst()
                state.outbound[entry.id]!.inFlight += first.messages.count
                admitted.append(first)
            }
            let taken = state.outbound[entry.id]!.queued
            state.outbound[entry.id]!.queued = []
            return (admitted, taken)
        }
        entry.pending.append(contentsOf: taken)
        for waiter in admitted {
            entry.pending.append(contentsOf: waiter.messages)
            waiter.continuation.resume()
        }
        return !taken.isEmpty || !admitted.isEmpty
    }

    // MARK: IO

    func socket(_ id: Int) -> Socket? { byID[id]?.socket }

    func drainedAt(_ id: Int) -> Double? {
        guard let at = byID[id]?.drainedAt, at > 0 else { return nil }
        return at
    }

    func sendFromLoop(_ message: [[UInt8]], on id: Int) -> Bool {
        guard let entry = byID[id] else { return false }
        if !entry.hasPending {
            do {
                if try entry.socket.trySend(multipart: message) {
                    shared.sent.add(1, ordering: .relaxed)
                    return true
                }
            } catch {
                shared.outboundFailed.add(1, ordering: .relaxed)
                logger.debug("send on socket#\(id) failed: \(error)")
                return false
            }
        }
        guard entry.localPending < entry.capacity else {
            shared.outboundFailed.add(1, ordering: .relaxed)
            return false
        }
        entry.localPending += 1
        entry.pending.append(Outgoing(frames: message, confirm: nil, local: true))
        return true
    }
}

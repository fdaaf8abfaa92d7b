import FlowCore
import Logging
import Synchronization
import ZeroMQ

/// The coordinator's socket handlers: everything runs on the coordinator's loop thread.
///
/// Each handler decodes one message, feeds it to the ``CoordinatorState`` under its mutex (uncontended: only
/// the loop thread takes it, plus `status` snapshots) and carries out the returned actions on the loop's
/// sockets without leaving the thread.
final class CoordinatorEngine: Sendable {
    struct Handles: Sendable {
        var control: SocketLoop.SocketHandle
        var workers: SocketLoop.SocketHandle
        var eventsIn: SocketLoop.SocketHandle
        var eventsOut: SocketLoop.SocketHandle
    }

    /// Topic prefix of the subscription handshake (see docs/PROTOCOL.md, "Joining without a gap").
    static let syncPrefix: [UInt8] = Array("\u{0}sync/".utf8)

    let state: Mutex<CoordinatorState>
    let handles = Mutex<Handles?>(nil)
    /// Plain and batched publishing to subscribers; used on the loop thread only.
    let publisher = Mutex(EventPublisher())
    /// Pushed results held until the end of the round for clients that asked for `result_batch`.
    let resultBatches = Mutex(ResultBatcher())
    /// Replies and replays waiting for control peers whose pipes are full; bounded per peer and in total.
    let controlOutbox: Mutex<PeerOutbox>
    /// Commands waiting for workers whose pipes are full; bounded the same way.
    let workerOutbox: Mutex<PeerOutbox>
    let config: CoordinatorConfiguration
    let logger: Logger
    let peerDisconnects = Atomic<Int>(0)
    /// Set when subscribers hold more distinct prefixes than the bound: the service then drops every subscriber
    /// connection (``Coordinator/dropSubscribers(engine:loop:)``).
    let subscriptionsOverflowed = Atomic<Bool>(false)
    /// How many times every subscriber connection was dropped for that reason.
    let subscriptionResets = Atomic<Int>(0)
    let handshakeFailures = Atomic<Int>(0)
    private let rejectionLog = LogThrottle()
    /// The journal, with a data directory: records are written at the end of each loop round, before the
    /// round's replies and pushed results (held in `afterCommit` meanwhile) leave.
    let journal: Journal?
    private let afterCommit = Mutex<[CoordinatorState.Action]>([])
    private let journalLog = LogThrottle()

    /// With keys: the allow-list, consulted for every message.
    let access: AccessControl?
    /// With keys: each subscriber connection's prefixes (the events-out XPUB applies subscriptions itself).
    let ledger = Mutex(SubscriptionLedger())
    /// With keys: the public key each registered worker's connection authenticated with, by routing identity.
    let workerKeys = Mutex<[[UInt8]: String]>([:])
    /// Set when a reload removed or changed a key that may subscribe: the service then drops every subscriber
    /// connection, so that each subscribes again under the new list.
    let subscribersToDrop = Atomic<Bool>(false)

    init(
        config: CoordinatorConfiguration,
        instanceId: String,
        logger: Logger,
        journal: Journal? = nil,
        access: AccessControl? = nil
    ) {
        self.config = config
        self.logger = logger
        self.journal = journal
        self.access = access
        self.state = Mutex(CoordinatorState(config: config, instanceId: instanceId))
        let limits = (peer: config.clientBufferBytes, total: config.clientBuffersTotalBytes)
        self.controlOutbox = Mutex(PeerOutbox(peerLimit: limits.peer, totalLimit: limits.total))
        self.workerOutbox = Mutex(PeerOutbox(peerLimit: limits.peer, totalLimit: limits.total))
    }

    var now: Double { WallClock.monotonic }

    /// When ``tick(_:)`` last ran (monotonic seconds; 0 before the first).
    private let lastTick = Mutex<Double>(0)
    /// A gap between ticks longer than this means the coordinator itself was held up.
    static let stallThreshold = 0.25

    /// Logs a rejected message, at most 10 lines per 10 s; every rejection is counted all the same.
    func logRejection(_ what: String, _ error: some Error, peer: String) {
        guard let held = rejectionLog.admit() else { return }
        logger.warning("rejected \(what): \(error)\(LogThrottle.suffix(held))", metadata: ["peer": "\(peer)"])
    }

    // MARK: Control endpoint

    func handleControl(_ frames: [[UInt8]], _ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }), let identity = frames.first else { return }
        let peer = Self.hex(identity)
        guard frames.count == 2 else {
            state.withLock { $0.count { $0.rejectedBadFrames += 1 } }
            let error = JSONWireError(.badField, "a control message is one frame, got \(frames.count - 1)")
            logRejection("control message", error, peer: peer)
            send(identity, ControlReply.error(id: nil, code: .badFrames, message: error.message).frames, h.control, io)
            return
        }
        if frames[1].count > config.maxMessageBytes {
            state.withLock { $0.count { $0.rejectedOversize += 1 } }
            let message = "message of \(frames[1].count) bytes exceeds the limit of \(config.maxMessageBytes)"
            logRejection("control message", JSONWireError(.badField, message), peer: peer)
            send(identity, ControlReply.error(id: nil, code: .badRequest, message: message).frames, h.control, io)
            return
        }
        let request: ControlRequest
        do {
            request = try ControlRequest.decode(frames[1])
        } catch {
            state.withLock { $0.count { $0.countRejection(error) } }
            logRejection("control message", error, peer: peer)
            let code: PoolErrorCode =
                switch error.code {
                case .unsupportedVersion: .unsupportedVersion
                case .unknownOp: .unknownOp
                default: .badRequest
                }
            let id = (try? JSONValue(wireBytes: frames[1]))?["id"]?.stringValue
            send(identity, ControlReply.error(id: id, code: code, message: error.description).frames, h.control, io)
            return
        }
        if let access, let denied = denial(of: request, userId: io.userId, access: access) {
            state.withLock { $0.count { $0.rejectedForbidden += 1 } }
            logRejection("control message", JSONWireError(.badField, denied), peer: peer)
            send(identity, ControlReply.error(id: request.id, code: .forbidden, message: denied).frames, h.control, io)
            return
        }
        let now = self.now
        switch request {
        case .hello(let id, let batchResults):
            if batchResults { resultBatches.withLock { $0.add(identity) } }
            let reply = ControlReply.welcome(
                Welcome(
                    id: id,
                    coordinatorId: state.withLock { $0.instanceId },
                    advertisedHost: config.advertisedHost,
                    workerPort: workerPort,
                    eventsInPort: eventsInPort,
                    eventsOutPort: eventsOutPort,
                    maxMessageBytes: config.maxMessageBytes,
                    maxQueue: config.maxQueue
                )
            )
            send(identity, reply.frames, h.control, io)
        case .submit(let submit):
            let actions = state.withLock { $0.submit(submit, client: identity, now: now) }
            execute(actions, io, h)
        case .submitBatch(let id, let runs):
            let actions = state.withLock { $0.submitBatch(id: id, runs, client: identity, now: now) }
            execute(actions, io, h)
        case .status(let id):
            var body = state.withLock { $0.statusBody(now: now) }
            if case .object(var o) = body {
                o["peer_disconnects"] = .int(peerDisconnects.load(ordering: .relaxed))
                o["handshake_failures"] = .int(handshakeFailures.load(ordering: .relaxed))
                o["replies_waiting_bytes"] = .int(controlOutbox.withLock { $0.totalBytes })
                o["commands_waiting_bytes"] = .int(workerOutbox.withLock { $0.totalBytes })
                o["subscriptions"] = .int(publisher.withLock { $0.subscriptionCount })
                o["subscription_resets"] = .int(subscriptionResets.load(ordering: .relaxed))
                body = .object(o)
            }
            send(identity, ControlReply.status(id: id, body: body).frames, h.control, io)
        case .cancel(let id, let ns, let run):
            let actions = state.withLock { $0.cancel(id: id, namespace: ns, runId: run, client: identity, now: now) }
            execute(actions, io, h)
        case .getResult(let id, let ns, let run):
            let reply = state.withLock { $0.result(id: id, namespace: ns, runId: run) }
            // As an action: with a journal it leaves after the round's commit, like the result it may carry.
            execute([.reply(identity, reply)], io, h)
        case .replay(let replay):
            serveReplay(replay, to: identity, io, h)
        case .subscriberReport(let report):
            state.withLock { $0.subscriberReport(report, now: now) }
            send(identity, ControlReply.ok(id: report.id).frames, h.control, io)
        }
    }

    /// Starts answering a replay; its batches leave as the peer reads them (``flushControl(_:_:)``).
    private func serveReplay(_ request: ReplayRequest, to identity: [UInt8], _ io: SocketLoop.IO, _ h: Handles) {
        let started: Result<Bool, JSONWireError> = state.withLock { state in
            state.count { $0.replayRequests += 1 }
            do throws(JSONWireError) {
                let cursor = try ReplayCursor(request, replay: state.replay)
                let started = state.replayCursors.start(cursor, for: identity)
                if !started { state.count { $0.replaysRefused += 1 } }
                return .success(started)
            } catch {
                return .failure(error)
            }
        }
        switch started {
        case .success(true):
            flushControl(io, h)
        case .success(false):
            let bytes = state.withLock { $0.replayCursors.bytes(for: identity) }
            let message =
                "replays in progress for this peer hold \(bytes >> 10) KiB (limit \(config.clientBufferBytes >> 20) MiB per peer, --client-buffer-mb, and \(config.clientBuffersTotalBytes >> 20) MiB for all); read their batches, then ask again"
            send(identity, ControlReply.error(id: request.id, code: .busy, message: message).frames, h.control, io)
        case .failure(let error):
            let reply = ControlReply.error(id: request.id, code: .badRequest, message: "\(error)")
            send(identity, reply.frames, h.control, io)
        }
    }

    /// Most `replay_batch` messages read from the replay buffer per call of ``flushControl(_:_:)``.
    static let replayBatchesPerFlush = 64

    /// Sends what waits for control peers, then the next batches of the replays of peers that nothing waits for.
    private func flushControl(_ io: SocketLoop.IO, _ h: Handles) {
        guard let socket = io.socket(h.control) else { return }
        var gone = controlOutbox.withLock { $0.flush(on: socket) }
        var budget = Self.replayBatchesPerFlush
        while budget > 0 {
            let waiting = controlOutbox.withLock { Set($0.peers.keys) }
            let batches = state.withLock { $0.nextReplayBatches(skipping: waiting, budget: budget) }
            if batches.isEmpty { break }
            budget -= batches.count
            for (identity, frames) in batches
            where controlOutbox.withLock({ $0.send(identity, frames, on: socket, bounded: false) }) == .unreachable {
                gone.append(identity)
            }
        }
        guard !gone.isEmpty else { return }
        state.withLock { state in
            for identity in gone { state.replayCursors.drop(identity) }
            state.count { $0.unroutableReplies += gone.count }
        }
    }

    // MARK: Worker endpoint

    func handleWorker(_ frames: [[UInt8]], _ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }), let identity = frames.first else { return }
        var workerKey: String?
        if let access {
            guard let entry = access.entry(userId: io.userId), entry.role == .worker else {
                state.withLock { $0.count { $0.rejectedForbidden += 1 } }
                logRejection(
                    "worker message",
                    JSONWireError(.badField, "the connection's key is not a worker key in the allow-list"),
                    peer: Self.hex(identity)
                )
                revokeWorker(identity, io, h)
                return
            }
            workerKey = entry.publicKey
        }
        let body = Array(frames.dropFirst())
        let size = body.reduce(0) { $0 + $1.count }
        if size > config.maxMessageBytes {
            state.withLock { $0.count { $0.rejectedOversize += 1 } }
            logRejection("worker message", JSONWireError(.badField, "\(size) bytes"), peer: Self.hex(identity))
            return
        }
        let report: WorkerReport
        do {
            report = try WorkerReport.decode(body)
        } catch {
            state.withLock { $0.count { $0.countRejection(error) } }
            logRejection("worker message", error, peer: Self.hex(identity))
            send(identity, [WorkerCommand.error(code: .badRequest, message: error.description).frame], h.workers, io)
            return
        }
        if case .results(let batch) = report, !batch.rejected.isEmpty {
            // Each unreadable element is treated as a bad `result` would be; the readable ones still count.
            state.withLock { s in s.count { c in for r in batch.rejected { c.countRejection(r.error) } } }
            for rejection in batch.rejected {
                logRejection("worker result", rejection.error, peer: Self.hex(identity))
                let error = WorkerCommand.error(code: .badRequest, message: rejection.error.description)
                send(identity, [error.frame], h.workers, io)
            }
        }
        if let workerKey, case .hello = report { workerKeys.withLock { $0[identity] = workerKey } }
        let actions = state.withLock { $0.report(report, from: identity, now: now) }
        execute(actions, io, h)
    }

    // MARK: Event bus

    func handleEventIn(_ frames: [[UInt8]], _ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }) else { return }
        if let access, access.entry(userId: io.userId)?.role != .worker {
            state.withLock { $0.count { $0.rejectedForbidden += 1 } }
            let error = JSONWireError(.badField, "the connection's key is not a worker key in the allow-list")
            logRejection("event", error, peer: "bus")
            return
        }
        guard frames.count == 2 || frames.count == 3 else {
            state.withLock { $0.count { $0.rejectedBadEvents += 1 } }
            let error = JSONWireError(.badField, "an event message is 3 frames, got \(frames.count)")
            logRejection("event", error, peer: "bus")
            return
        }
        let time = now
        let first = frames[0]
        let second = frames[1]
        let credential = frames.count == 3 ? frames[2] : nil
        // One pass over the message's bytes: each event is validated and stored under one lock for the
        // whole message, then the forwarded ones are published, all from the received frames without copies
        // of their own.
        let ingested = state.withLock { $0.ingest(first: first, second: second, credential: credential, now: time) }
        if ingested.forged > 0 {
            let reason =
                credential == nil ? "no credential (third frame)" : "a credential this coordinator did not issue"
            logRejection(
                "\(ingested.forged) event(s)",
                JSONWireError(.badField, "the message carries \(reason)"),
                peer: "bus"
            )
        }
        if !ingested.forwarded.isEmpty, let socket = io.socket(h.eventsOut) {
            let single = first != EventBatch.marker
            do {
                try first.withUnsafeBytes { first in
                    try second.withUnsafeBytes { second in
                        try publisher.withLock { publisher in
                            for (topic, envelope) in ingested.forwarded {
                                try publisher.publish(
                                    topic: single ? first : UnsafeRawBufferPointer(rebasing: second[topic]),
                                    envelope: UnsafeRawBufferPointer(rebasing: second[envelope]),
                                    on: socket
                                )
                            }
                        }
                    }
                }
            } catch {
                logRejection("publish", error, peer: "subscribers")
            }
        }
        for error in ingested.rejected.prefix(3) { logRejection("event", error, peer: "bus") }
        if !ingested.actions.isEmpty { execute(ingested.actions, io, h) }
    }

    /// Publishes one event to subscribers (an XPUB never blocks: a subscriber at its high-water mark misses
    /// the event, which it can repair from replay). Batched copies leave at the end of the loop round.
    private func publish(_ raw: RawEvent, _ io: SocketLoop.IO, _ h: Handles) {
        guard let socket = io.socket(h.eventsOut) else { return }
        do {
            try publisher.withLock { try $0.publish(raw, on: socket) }
        } catch {
            logRejection("publish", error, peer: "subscribers")
        }
    }

    /// Sends the event batches the round's events filled, then the result batches (a result never leaves
    /// before its terminal event); runs at the end of every loop round.
    func roundEnd(_ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }), let socket = io.socket(h.eventsOut) else { return }
        do {
            try publisher.withLock { try $0.flush(socket) }
        } catch {
            logRejection("publish", error, peer: "subscribers")
        }
        // After the events, before the result batches: terminal events, replies and results leave once the
        // journal has them.
        if let journal { commitJournal(journal, io, h) }
        for (identity, frame) in resultBatches.withLock({ $0.take() })
        where !send(identity, [frame], h.control, io) {
            state.withLock { $0.count { $0.unroutableReplies += 1 } }
        }
        if controlOutbox.withLock({ !$0.peers.isEmpty }) || state.withLock({ !$0.replayCursors.isEmpty }) {
            flushControl(io, h)
        }
        if workerOutbox.withLock({ !$0.peers.isEmpty }), let workers = io.socket(h.workers) {
            let gone = workerOutbox.withLock { $0.flush(on: workers) }
            if !gone.isEmpty { state.withLock { s in s.count { $0.unroutableReplies += gone.count } } }
        }
    }

    /// Subscription messages from subscribers: tracks which forms are wanted, answers the `\0sync/<token>`
    /// handshake.
    func handleEventOut(_ frames: [[UInt8]], _ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }) else { return }
        guard frames.count == 1, let first = frames[0].first, first == 0 || first == 1 else {
            state.withLock { $0.count { $0.rejectedBadFrames += 1 } }
            logRejection("subscriber message", JSONWireError(.badField, "not a subscription"), peer: "subscriber")
            return
        }
        var applied = true
        let held: Int
        if let access, let socket = io.socket(h.eventsOut) {
            // A manual XPUB: the ledger says what a verbose one would have passed up.
            let outcome = manualSubscription(frames[0], userId: io.userId, access: access, socket: socket)
            applied = outcome.applied
            held = publisher.withLock { publisher in
                if outcome.change != .none { publisher.subscription(frames[0]) }
                return publisher.subscriptionCount
            }
        } else {
            held = publisher.withLock { publisher in
                publisher.subscription(frames[0])
                return publisher.subscriptionCount
            }
        }
        if held > config.maxSubscriptions, !subscriptionsOverflowed.exchange(true, ordering: .relaxed) {
            logger.warning(
                "subscribers hold \(held) distinct topic prefixes (limit \(config.maxSubscriptions), --max-subscriptions): dropping every subscriber connection; subscribers reconnect and subscribe again"
            )
        }
        let topic = Array(frames[0].dropFirst())
        if first == 1, applied, topic.starts(with: Self.syncPrefix) {
            // Pending batches first: the echo promises that the subscription is active, not that earlier
            // events are still to come.
            roundEnd(io)
            // With keys, the echo names the connection's subscriptions that were not applied.
            let refused = io.userId.map { id in ledger.withLock { $0.refused(connection: id) } } ?? []
            let echo =
                refused.isEmpty
                ? PoolProtocol.message("sync", [:])
                : PoolProtocol.message(
                    "sync",
                    ["refused": .array(refused.map { .string(String(decoding: $0, as: UTF8.self)) })]
                )
            io.send([topic, echo], on: h.eventsOut)
        }
    }

    // MARK: Time

    func tick(_ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }) else { return }
        let time = now
        let previous = lastTick.withLock { last in
            defer { last = time }
            return last
        }
        var workersHeardAt = io.drainedAt(h.workers)
        var eventsHeardAt = io.drainedAt(h.eventsIn)
        if previous > 0, time - previous > Self.stallThreshold {
            // Held up since the last tick (ticks come every 50 ms): what peers sent meanwhile may still be on its
            // way into the sockets, so judge no silence past the last tick before the stall; the next tick will.
            workersHeardAt = min(workersHeardAt ?? previous, previous)
            eventsHeardAt = min(eventsHeardAt ?? previous, previous)
        }
        let actions = state.withLock {
            $0.tick(now: time, workersHeardAt: workersHeardAt, eventsHeardAt: eventsHeardAt)
        }
        execute(actions, io, h)
        roundEnd(io)
    }

    // MARK: Journal

    /// Writes the round's journal records, then sends the replies that waited for them. When the write fails
    /// (a full disk, say) the replies keep waiting: nothing is acknowledged that is not in the journal.
    private func commitJournal(_ journal: Journal, _ io: SocketLoop.IO, _ h: Handles) {
        do {
            if try journal.commit() {
                // The snapshot is taken here, right after the commit it stands for; its thread writes it.
                journal.beginCompaction(state.withLock { $0.journalSnapshot() })
            }
        } catch {
            if let held = journalLog.admit() {
                logger.error("journal: \(error); replies wait until it can be written\(LogThrottle.suffix(held))")
            }
            return
        }
        let waiting = afterCommit.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        guard !waiting.isEmpty else { return }
        // Terminal events first, then the results and replies.
        for case .publish(let raw) in waiting { publish(raw, io, h) }
        if let socket = io.socket(h.eventsOut) {
            do {
                try publisher.withLock { try $0.flush(socket) }
            } catch {
                logRejection("publish", error, peer: "subscribers")
            }
        }
        for action in waiting {
            switch action {
            case .reply(let identity, let reply): answer(identity, reply, io, h)
            case .pushResult(let identity, let result): push(result, to: identity, io, h)
            default: break
            }
        }
    }

    /// Sends a reply to a control peer.
    private func answer(_ identity: [UInt8], _ reply: ControlReply, _ io: SocketLoop.IO, _ h: Handles) {
        if !send(identity, reply.frames, h.control, io) {
            state.withLock { $0.count { $0.unroutableReplies += 1 } }
        }
    }

    /// Pushes a run's result to its submitter: held for the round's `result_batch` when the client asked for
    /// batches, else sent at once.
    private func push(_ result: RunResult, to identity: [UInt8], _ io: SocketLoop.IO, _ h: Handles) {
        let batched = resultBatches.withLock { $0.hold(result, for: identity) }
        if !batched, !send(identity, ControlReply.result(result).frames, h.control, io) {
            state.withLock { $0.count { $0.unroutableReplies += 1 } }
        }
    }

    // MARK: Actions

    func execute(_ actions: [CoordinatorState.Action], _ io: SocketLoop.IO, _ h: Handles) {
        var pending = actions[...]
        var more: [CoordinatorState.Action] = []
        while true {
            for action in pending {
                if journal != nil {
                    switch action {
                    case .reply, .pushResult, .publish:
                        // (`publish` actions carry terminal events: a run is seen ended once its result is written.)
                        afterCommit.withLock { $0.append(action) }
                        continue
                    default: break
                    }
                }
                switch action {
                case .record(let record):
                    journal?.append(record)
                case .publish(let raw):
                    publish(raw, io, h)
                case .reply(let identity, let reply):
                    answer(identity, reply, io, h)
                case .pushResult(let identity, let result):
                    push(result, to: identity, io, h)
                case .command(let identity, let command):
                    if !send(identity, [command.frame], h.workers, io) {
                        more += state.withLock { $0.workerUnreachable(identity, now: now) }
                        more += state.withLock { $0.dispatch(now: now) }
                    }
                case .log(let message):
                    logger.info("\(message)")
                case .rejected(let message):
                    logRejection(message, JSONWireError(.badField, "not from the worker that holds it"), peer: "worker")
                case .unexpected(let message):
                    if let held = unexpectedLog.admit() {
                        logger.notice("ignored: \(message)\(LogThrottle.suffix(held))")
                    }
                }
            }
            if more.isEmpty { return }
            pending = more[...]
            more = []
        }
    }

    /// Sends to a ROUTER peer; false when the peer is unknown (`ZMQ_ROUTER_MANDATORY`).
    @discardableResult
    func send(
        _ identity: [UInt8],
        _ frames: [[UInt8]],
        _ handle: SocketLoop.SocketHandle,
        _ io: SocketLoop.IO
    )
        -> Bool
    {
        guard let socket = io.socket(handle) else { return false }
        // At the peer's high-water mark the message waits in the outbox, behind the peer's earlier ones.
        let isControl = handles.withLock { $0?.control == handle }
        let outcome =
            isControl
            ? controlOutbox.withLock { $0.send(identity, frames, on: socket) }
            : workerOutbox.withLock { $0.send(identity, frames, on: socket) }
        switch outcome {
        case .sent, .queued:
            return true
        case .dropped:
            state.withLock { $0.count { $0.repliesDropped += 1 } }
            if let held = droppedLog.admit() {
                let bytes =
                    isControl
                    ? controlOutbox.withLock { $0.bytes(for: identity) }
                    : workerOutbox.withLock { $0.bytes(for: identity) }
                logger.warning(
                    "a peer that does not read its replies has \(bytes >> 10) KiB waiting; dropped one\(LogThrottle.suffix(held))",
                    metadata: ["peer": "\(Self.hex(identity))"]
                )
            }
            return true
        case .unreachable:
            return false
        }
    }

    /// Lines about replies dropped for peers that do not read.
    private let droppedLog = LogThrottle()
    /// Lines about inputs a job's state did not take.
    private let unexpectedLog = LogThrottle()

    // MARK: Ports

    let ports = Mutex<(workers: Int, eventsIn: Int, eventsOut: Int)>((0, 0, 0))
    /// The events-out endpoint as bound (port resolved).
    let eventsOutEndpoint = Mutex<String>("")
    var workerPort: Int { ports.withLock { $0.workers } }
    var eventsInPort: Int { ports.withLock { $0.eventsIn } }
    var eventsOutPort: Int { ports.withLock { $0.eventsOut } }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.prefix(16).map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}

import FlowCore
import Synchronization
import ZeroMQ

/// With keys: what each key may do, checked for every message (see docs/PROTOCOL.md, "Security").
extension CoordinatorEngine {
    /// Why the key of a control message's connection may not make `request`, or nil when it may.
    func denial(of request: ControlRequest, userId: String?, access: AccessControl) -> String? {
        guard let entry = access.entry(userId: userId) else {
            return "this connection's key is not in the coordinator's allow-list (any more)"
        }
        func role(_ allowed: PeerRole..., for what: String) -> String? {
            allowed.contains(entry.role) ? nil : "\(entry.role) key \"\(entry.name)\" may not \(what)"
        }
        func namespace(_ ns: String, for what: String) -> String? {
            entry.allows(namespace: ns) ? nil : Self.outside(entry, "\(what) in namespace \"\(ns)\"")
        }
        switch request {
        case .hello:
            return nil
        case .submit(let submit):
            return role(.client, for: "submit runs") ?? namespace(submit.namespace, for: "submit runs")
        case .submitBatch(_, let runs):
            if let denied = role(.client, for: "submit runs") { return denied }
            for run in runs {
                if let denied = namespace(run.namespace, for: "submit runs") { return denied }
            }
            return nil
        case .cancel(_, let ns, _):
            return role(.client, for: "cancel runs") ?? namespace(ns, for: "cancel runs")
        case .getResult(_, let ns, _):
            return role(.client, for: "read results") ?? namespace(ns, for: "read results")
        case .replay(let replay):
            if let denied = role(.client, .subscriber, for: "replay events") { return denied }
            if let pattern = replay.pattern {
                let prefix = (try? TopicPattern(pattern))?.prefix ?? pattern
                if !entry.covers(topicPrefix: Array(prefix.utf8)) {
                    return Self.outside(entry, "replay pattern \"\(pattern)\"")
                }
            }
            for range in replay.ranges {
                if let denied = namespace(range.namespace, for: "replay events") { return denied }
            }
            return nil
        case .status:
            return role(.client, .subscriber, for: "read the pool's status")
        case .subscriberReport:
            return role(.client, .subscriber, for: "send subscriber reports")
        }
    }

    private static func outside(_ entry: AllowList.Entry, _ what: String) -> String {
        let namespaces = entry.namespaces.map(\.description).joined(separator: ", ")
        return "key \"\(entry.name)\" may not \(what): its namespaces are \(namespaces)"
    }

    /// Whether a subscription prefix (as the XPUB passes it up, without the leading byte) may be applied for `entry`.
    static func mayApply(_ prefix: ArraySlice<UInt8>, for entry: AllowList.Entry) -> Bool {
        guard entry.role == .client || entry.role == .subscriber else { return false }
        if prefix.starts(with: syncPrefix) { return true }
        if prefix.starts(with: EventPublisher.batchPrefix) {
            return entry.covers(topicPrefix: prefix.dropFirst(EventPublisher.batchPrefix.count))
        }
        // Other control topics and partial batch prefixes reach beyond any one namespace.
        if let first = prefix.first, first <= 1 { return entry.namespaces.contains { $0.description == "*" } }
        return entry.covers(topicPrefix: prefix)
    }

    /// A subscription message on the events-out endpoint, with keys (a manual XPUB): counted per connection,
    /// applied when the connection's key covers it. Returns the change for the publisher.
    func manualSubscription(
        _ message: [UInt8],
        userId: String?,
        access: AccessControl,
        socket: Socket
    ) -> (change: SubscriptionLedger.Change, applied: Bool) {
        let subscribe = message[0] == 1
        let prefix = Array(message.dropFirst())
        guard subscribe else {
            let change = ledger.withLock { $0.unsubscribe(prefix, connection: userId) }
            if userId != nil { try? socket.set(.unsubscribe(prefix)) }
            return (change, false)
        }
        guard let userId else { return (.none, false) }
        let change = ledger.withLock { $0.subscribe(prefix, connection: userId) }
        guard let entry = access.entry(userId: userId), Self.mayApply(prefix[...], for: entry) else {
            ledger.withLock { $0.refuse(prefix, connection: userId) }
            state.withLock { $0.count { $0.subscriptionsRefused += 1 } }
            let name = access.entry(userId: userId)?.name ?? "a key no longer allowed"
            let shown = String(decoding: prefix.filter { $0 >= 0x20 }, as: UTF8.self)
            logRejection(
                "subscription",
                JSONWireError(.badField, "\(name) may not read \"\(shown)\": outside its namespaces, not applied"),
                peer: "subscriber"
            )
            return (change, false)
        }
        do {
            try socket.set(.subscribe(prefix))
        } catch {
            logRejection("subscription", error, peer: "subscriber")
            return (change, false)
        }
        return (change, true)
    }

    /// Drops the registered workers whose key is no longer a worker key (after a reload); their runs go back to
    /// the queue. Runs on the loop thread.
    func revokeWorkers(access: AccessControl, _ io: SocketLoop.IO) {
        guard let h = handles.withLock({ $0 }) else { return }
        let revoked: [[UInt8]] = workerKeys.withLock { keys in
            let gone = keys.filter { access.entry(userId: $0.value)?.role != .worker }.map(\.key)
            for identity in gone { keys[identity] = nil }
            return gone
        }
        for identity in revoked { revokeWorker(identity, io, h) }
    }

    /// Refuses a worker's key from now on: drops it like a lost worker (its runs go back) and tells it why.
    func revokeWorker(_ identity: [UInt8], _ io: SocketLoop.IO, _ h: Handles) {
        let time = now
        var actions = state.withLock { state -> [CoordinatorState.Action] in
            let actions = state.workerUnreachable(identity, now: time)
            if !actions.isEmpty { state.count { $0.workersRevoked += 1 } }
            return actions
        }
        actions += state.withLock { $0.dispatch(now: time) }
        let message = "this worker's key is no longer a worker key in the coordinator's allow-list"
        send(identity, [WorkerCommand.error(code: .forbidden, message: message).frame], h.workers, io)
        execute(actions, io, h)
    }
}

import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

/// A coordinator with CURVE keys, real processes and real sockets: every endpoint refuses peers without an
/// allowed key of its role, namespaces bound what a key may submit, replay and follow, and a key taken out of the
/// allow-list is refused from the reload on, on its open connections too.
@Suite("Pool keys", .serialized)
struct PoolKeysTests {
    /// A directory of key files and an allow-list.
    struct KeySet {
        let directory: String
        let coordinator: CurveKeyPair
        var coordinatorPublicFile: String { "\(directory)/coordinator.key" }
        var allowFile: String { "\(directory)/allow.list" }

        init() throws {
            directory = NSTemporaryDirectory() + "flowpool-keys-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            coordinator = try CurveKeyPair.generate()
            _ = try CertificateFile(publicKey: coordinator.publicKey, secretKey: coordinator.secretKey)
                .write(name: "coordinator", directory: directory)
        }

        /// Makes a key pair named `name` and returns its entry (not yet in the allow-list).
        func make(_ name: String, _ role: PeerRole, _ namespaces: String? = nil) throws -> Peer {
            let keys = try CurveKeyPair.generate()
            _ = try CertificateFile(publicKey: keys.publicKey, secretKey: keys.secretKey)
                .write(name: name, directory: directory)
            let entry = AllowList.Entry(
                name: name,
                role: role,
                publicKey: keys.publicKey,
                namespaces: try namespaces.map { try NamespacePattern.list($0) } ?? []
            )
            return Peer(
                entry: entry,
                keys: PoolKeys(keys: keys, coordinatorKey: coordinator.publicKey),
                directory: directory
            )
        }

        /// Writes the allow-list with exactly `peers`.
        func allow(_ peers: [Peer]) throws {
            let text = "# test allow-list\n" + peers.map(\.entry.line).joined(separator: "\n") + "\n"
            try text.write(toFile: allowFile, atomically: true, encoding: .utf8)
        }

        var coordinatorArguments: [String] {
            ["--key-file", "\(directory)/coordinator.key_secret", "--allow-file", allowFile]
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    struct Peer {
        let entry: AllowList.Entry
        let keys: PoolKeys
        let directory: String
        var arguments: [String] {
            [
                "--key-file", "\(directory)/\(entry.name).key_secret", "--coordinator-key",
                "\(directory)/coordinator.key",
            ]
        }
    }

    /// Connects a socket of `kind` to `endpoint` (with `keys`, or none) and reports how its handshake ended.
    static func handshake(_ kind: SocketKind, to endpoint: String, keys: PoolKeys?) async throws -> MonitorEvent.Kind {
        let context = try Context()
        let socket = try Socket(context, kind)
        defer { socket.close() }
        try keys?.secure(socket)
        try socket.set(.linger(0))
        let monitor = try socket.monitor([.handshakeSucceeded, .handshakeFailed, .disconnected])
        defer { monitor.close() }
        try socket.connect(endpoint)
        let deadline = ContinuousClock.now + .seconds(20)
        // A failure without detail, or the server closing the connection (it could not read our handshake), may
        // precede an event that says why: such an ending counts only when nothing more definite follows soon.
        var ended: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            if let frames = try monitor.tryReceiveMultipart(), let event = MonitorEvent(frames: frames) {
                if event.kind == .handshakeFailedNoDetail || event.kind == .disconnected {
                    ended = ended ?? ContinuousClock.now
                    continue
                }
                return event.kind
            }
            if let ended, ContinuousClock.now - ended > .seconds(2) { return .disconnected }
            try await Task.sleep(for: .milliseconds(5))
        }
        return []
    }

    static let sample: JSONValue = ["question": "What is the total revenue?"]

    /// Submits an agent4 run in `namespace` and waits for its result.
    static func complete(_ pool: PoolClient, _ namespace: String) async throws -> RunResult {
        let submission = try await pool.submit("agent4", namespace: namespace, input: sample)
        return try await pool.result(of: submission, limit: .seconds(60))
    }

    @Test("every endpoint refuses no key, an unknown key and a key of another role")
    func endpointsRefuseStrangers() async throws {
        let set = try KeySet()
        defer { set.remove() }
        let worker = try set.make("worker-a", .worker)
        let client = try set.make("app", .client, "*")
        let subscriber = try set.make("dash", .subscriber, "*")
        let stranger = try set.make("stranger", .client, "*")  // never in the allow-list
        try set.allow([worker, client, subscriber])
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: set.coordinatorArguments,
            workerArguments: worker.arguments,
            keys: client.keys
        ) { pool in
            let endpoints = [
                ("control", SocketKind.dealer, client.keys, worker.keys),
                ("workers", .dealer, worker.keys, subscriber.keys),
                ("events_in", .xpub, worker.keys, client.keys),
                ("events_out", .sub, subscriber.keys, worker.keys),
            ]
            for (name, kind, allowed, otherRole) in endpoints {
                let endpoint = try #require(pool.endpoints[name]?.stringValue)
                #expect(
                    try await Self.handshake(kind, to: endpoint, keys: allowed) == .handshakeSucceeded,
                    "\(name): the key of its role is accepted"
                )
                // The mechanisms differ: the client reports the protocol error, or only sees the server close.
                let keyless = try await Self.handshake(kind, to: endpoint, keys: nil)
                #expect(
                    keyless == .handshakeFailedProtocol || keyless == .disconnected,
                    "\(name): a peer without keys is refused (\(keyless))"
                )
                #expect(
                    try await Self.handshake(kind, to: endpoint, keys: stranger.keys) == .handshakeFailedAuth,
                    "\(name): a key not in the allow-list is refused"
                )
                let wrongServer = PoolKeys(
                    keys: client.keys.keys,
                    coordinatorKey: try CurveKeyPair.generate().publicKey
                )
                #expect(
                    try await Self.handshake(kind, to: endpoint, keys: wrongServer) == .disconnected,
                    "\(name): a peer that expects another coordinator key gets nowhere"
                )
                if name != "control" {
                    #expect(
                        try await Self.handshake(kind, to: endpoint, keys: otherRole) == .handshakeFailedAuth,
                        "\(name): a key of another role is refused"
                    )
                }
            }

            // On the control endpoint every role may say hello, but only a client submits.
            for peer in [worker, subscriber] {
                let pool = try await PoolClient.connect(to: pool.control, timeout: .seconds(10), keys: peer.keys)
                let error = await #expect(throws: PoolError.self) {
                    _ = try await pool.submit("agent4", namespace: "support", input: Self.sample)
                }
                #expect(error?.remoteCode == .forbidden)
                #expect(error?.message.contains("\(peer.entry.role) key \"\(peer.entry.name)\" may not submit") == true)
                await pool.close()
            }
            // The client's run goes through the worker: its events and result carry the right keys end to end.
            let result = try await PoolClient.withConnection(to: pool.control, keys: client.keys) { pool in
                try await Self.complete(pool, "support")
            }
            #expect(result.status == .completed)

            // A client without keys learns why it gets no answer.
            let error = await #expect(throws: PoolError.self) {
                _ = try await PoolClient.connect(to: pool.control, timeout: .seconds(2))
            }
            #expect(error?.message.contains("CURVE keys") == true, "\(error?.message ?? "")")
            #expect(try await pool.counter("rejected_forbidden") >= 2)
        }
    }

    @Test("namespaces bound submit, cancel, results, replay and subscriptions")
    func namespacePermissions() async throws {
        let set = try KeySet()
        defer { set.remove() }
        let worker = try set.make("worker-a", .worker)
        let alice = try set.make("alice", .client, "support,sales_*")
        let dash = try set.make("dash", .subscriber, "support")
        let admin = try set.make("admin", .client, "*")
        try set.allow([worker, alice, dash, admin])
        try await PoolHarness.with(
            workers: 1,
            coordinatorArguments: set.coordinatorArguments,
            workerArguments: worker.arguments,
            keys: admin.keys
        ) { harness in
            let alicePool = try await PoolClient.connect(to: harness.control, keys: alice.keys)
            let dashPool = try await PoolClient.connect(to: harness.control, keys: dash.keys)
            let adminPool = try await PoolClient.connect(to: harness.control, keys: admin.keys)
            defer {
                Task {
                    await alicePool.close()
                    await dashPool.close()
                    await adminPool.close()
                }
            }
            func expectForbidden(_ what: String, _ body: () async throws -> Void) async {
                do {
                    try await body()
                    Issue.record("\(what) was allowed")
                } catch let error as PoolError {
                    #expect(error.remoteCode == .forbidden, "\(what): \(error.message)")
                } catch {
                    Issue.record("\(what): \(error)")
                }
            }

            // The subscriber follows its namespace; the pattern outside it is refused when it subscribes.
            let followed = try await dashPool.events(matching: "support")
            let collector = EventCollector()
            let following = Task { await followed.collect(into: collector) }
            defer {
                following.cancel()
                followed.close()
            }
            for pattern in ["billing", "supp*", "*", "support2"] {
                await expectForbidden("subscribing to \(pattern)") { _ = try await dashPool.events(matching: pattern) }
            }

            let support = try await Self.complete(alicePool, "support")
            #expect(support.status == .completed)
            #expect(try await Self.complete(alicePool, "sales_east").status == .completed)
            await expectForbidden("submitting to billing") {
                _ = try await alicePool.submit("agent4", namespace: "billing", input: Self.sample)
            }
            await expectForbidden("a batch with a run in billing") {
                _ = try await alicePool.submitBatch([
                    ("agent4", "support", Self.sample), ("agent4", "billing", Self.sample),
                ])
            }
            let billing = try await Self.complete(adminPool, "billing")
            await expectForbidden("reading a billing result") {
                _ = try await alicePool.result(namespace: "billing", runId: billing.runId)
            }
            await expectForbidden("cancelling a billing run") {
                _ = try await alicePool.cancel(namespace: "billing", runId: billing.runId)
            }
            #expect(try await alicePool.result(namespace: "support", runId: support.runId).status == .completed)

            // Replay: the subscriber's namespace only, by pattern or by range.
            let history = try await dashPool.replay(pattern: "support")
            #expect(history.contains { $0.event.runId == support.runId })
            await expectForbidden("replaying billing") { _ = try await dashPool.replay(pattern: "billing") }
            await expectForbidden("replaying everything") { _ = try await dashPool.replay(pattern: "*") }
            await expectForbidden("replaying a billing range") {
                _ = try await dashPool.replay(ranges: [ReplayRange(namespace: "billing", runId: billing.runId)])
            }
            await expectForbidden("a subscriber submitting") {
                _ = try await dashPool.submit("agent4", namespace: "support", input: Self.sample)
            }

            // What the subscriber followed: every event of the support run, none of the others.
            try await harness.until(seconds: 20, "the support run's events at the subscriber") {
                collector.events.contains { $0.event.runId == support.runId && $0.event.type.isTerminal }
            }
            expectCompleteRun(collector.byRun["support/\(support.runId)"] ?? [])
            #expect(collector.events.allSatisfy { $0.event.namespace == "support" })

            // A raw subscriber with the subscriber key asking for everything gets none of it: the echo of its
            // handshake names the refused prefix, and a billing run's events never reach it.
            let eventsOut = try #require(harness.endpoints["events_out"]?.stringValue)
            let context = try Context()
            let raw = try Socket(context, .sub)
            defer { raw.close() }
            try dash.keys.secure(raw)
            try raw.set(.linger(0))
            try raw.connect(eventsOut)
            try raw.set(.subscribe([]))
            let token = Array("\u{0}sync/raw-\(UUID().uuidString.prefix(6))".utf8)
            try raw.set(.subscribe(token))
            let echo = try await Self.receive(raw, topic: token)
            let refused = try JSONValue(wireBytes: echo[1])["refused"]?.arrayValue ?? []
            #expect(refused == [.string("")], "the refused prefixes: \(refused)")
            let another = try await Self.complete(adminPool, "billing")
            #expect(another.status == .completed)
            // A second handshake on the same connection: everything published before its echo was delivered first.
            let token2 = Array("\u{0}sync/raw2-\(UUID().uuidString.prefix(6))".utf8)
            try raw.set(.subscribe(token2))
            let seen = try await Self.receive(raw, topic: token2, collectingOthers: true)
            #expect(seen.isEmpty, "the raw subscriber received \(seen.count) messages it may not read")
            #expect(try await harness.counter("subscriptions_refused") >= 5)
        }
    }

    /// Reads `socket` until a message on `topic` arrives; returns it, or with `collectingOthers` the other messages
    /// (handshake echoes left out) that came first.
    static func receive(_ socket: Socket, topic: [UInt8], collectingOthers: Bool = false) async throws -> [[UInt8]] {
        var others: [[UInt8]] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let frames = try socket.tryReceiveMultipart() {
                if frames.first == topic { return collectingOthers ? others : frames }
                if frames.first?.first != 0 { others.append(frames.first ?? []) }
                continue
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw HarnessError("no message on the handshake topic in time")
    }

    @Test("a key taken out of the allow-list is refused after SIGHUP, on its open connections too")
    func revocationByReload() async throws {
        let set = try KeySet()
        defer { set.remove() }
        let keep = try set.make("worker-keep", .worker)
        let drop = try set.make("worker-drop", .worker)
        let alice = try set.make("alice", .client, "support")
        let admin = try set.make("admin", .client, "*")
        let dash = try set.make("dash", .subscriber, "support")
        let watcher = try set.make("watcher", .subscriber, "support")
        let late = try set.make("worker-late", .worker)  // in the list only from the reload on
        try set.allow([keep, drop, alice, admin, dash, watcher])
        try await PoolHarness.with(
            workers: 0,
            coordinatorArguments: set.coordinatorArguments,
            keys: admin.keys
        ) { harness in
            _ = try harness.startWorker(keep.arguments + ["--concurrency", "4"])
            let dropped = try harness.startWorker(drop.arguments + ["--concurrency", "4"])
            try await harness.waitForWorkers(2)
            // Refused at first: it keeps trying (each time on a new socket, as libzmq gives a refused one up).
            let latecomer = try harness.startWorker(late.arguments + ["--timeout", "1"])
            try await harness.until(seconds: 20, "the unlisted worker refused") {
                latecomer.stderr.contains("refused this connection's key")
            }
            let alicePool = try await PoolClient.connect(to: harness.control, keys: alice.keys)
            let adminPool = try await PoolClient.connect(to: harness.control, keys: admin.keys)
            let dashPool = try await PoolClient.connect(to: harness.control, keys: dash.keys)
            let watcherPool = try await PoolClient.connect(to: harness.control, keys: watcher.keys)
            defer {
                Task {
                    for pool in [alicePool, adminPool, dashPool, watcherPool] { await pool.close() }
                }
            }
            let dashEvents = try await dashPool.events(matching: "support")
            let dashSeen = EventCollector()
            let dashTask = Task { await dashEvents.collect(into: dashSeen) }
            defer {
                dashTask.cancel()
                dashEvents.close()
            }
            #expect(try await Self.complete(alicePool, "support").status == .completed)
            // Long runs on both workers while the list changes: the dropped worker's go back to the queue.
            var slow: [PoolClient.Submission] = []
            for _ in 0..<8 { slow.append(try await adminPool.submit("sleep", namespace: "batch", input: ["ms": 1500])) }
            try await harness.until(seconds: 20, "both workers busy") {
                let workers = try await harness.status()["workers"]?.arrayValue ?? []
                return workers.count == 2 && workers.allSatisfy { ($0["in_flight"]?.intValue ?? 0) > 0 }
            }

            let failuresBefore = try await harness.status()["handshake_failures"]?.intValue ?? 0
            try set.allow([keep, admin, watcher, late])
            harness.coordinator.signal(SIGHUP)

            // Alice's open connection: refused from the reload on.
            try await harness.until(seconds: 20, "alice's submits refused") {
                do {
                    _ = try await alicePool.submit("agent4", namespace: "support", input: Self.sample)
                    return false
                } catch let error as PoolError where error.remoteCode == .forbidden {
                    #expect(error.message.contains("allow-list"))
                    return true
                }
            }
            try await harness.until(seconds: 20, "the dropped worker gone, the late one registered") {
                let status = try await harness.status()
                return status["workers"]?.arrayValue?.count == 2
                    && status["counters"]?["workers_revoked"]?.intValue == 1
            }
            // Every long run completes anyway, the dropped worker's on the remaining one.
            for submission in slow {
                #expect(try await adminPool.result(of: submission, limit: .seconds(60)).status == .completed)
            }
            #expect(dropped.isRunning, "a revoked worker is refused, not killed")

            // The revoked subscriber is disconnected and cannot come back; the one still listed follows on.
            try await harness.until(seconds: 20, "subscribers made to reconnect, the revoked one refused") {
                let status = try await harness.status()
                return (status["subscription_resets"]?.intValue ?? 0) >= 1
                    && (status["handshake_failures"]?.intValue ?? 0) > failuresBefore
            }
            let watcherEvents = try await watcherPool.events(matching: "support")
            let watcherSeen = EventCollector()
            let watcherTask = Task { await watcherEvents.collect(into: watcherSeen) }
            defer {
                watcherTask.cancel()
                watcherEvents.close()
            }
            let after = try await Self.complete(adminPool, "support")
            try await harness.until(seconds: 20, "the allowed subscriber sees the run after the reload") {
                watcherSeen.events.contains { $0.event.runId == after.runId && $0.event.type.isTerminal }
            }
            #expect(
                !dashSeen.events.contains { $0.event.runId == after.runId },
                "the revoked subscriber saw a later run"
            )

            // An invalid list is refused and the current one stays.
            try "admin client not-a-key *\n".write(toFile: set.allowFile, atomically: true, encoding: .utf8)
            harness.coordinator.signal(SIGHUP)
            try await harness.until(seconds: 20, "the bad list reported") {
                harness.coordinator.stderr.contains("allow-list not reloaded")
            }
            #expect(try await Self.complete(adminPool, "support").status == .completed)
        }
    }

    @Test("a subscriber whose key is taken out and put back follows again by itself")
    func subscriberBackAfterItsKeyReturns() async throws {
        let set = try KeySet()
        defer { set.remove() }
        let worker = try set.make("worker", .worker)
        let admin = try set.make("admin", .client, "*")
        let dash = try set.make("dash", .subscriber, "support")
        try set.allow([worker, admin, dash])
        try await PoolHarness.with(
            workers: 0,
            coordinatorArguments: set.coordinatorArguments,
            keys: admin.keys
        ) { harness in
            _ = try harness.startWorker(worker.arguments)
            try await harness.waitForWorkers(1)
            let adminPool = try await PoolClient.connect(to: harness.control, keys: admin.keys)
            defer { Task { await adminPool.close() } }
            // `flowpool subscribe` as its own process: what it logs is what its user sees.
            let subscriber = try PoolProcess(
                name: "subscribe",
                arguments: ["subscribe", "support", "--json", "--coordinator", harness.control] + dash.arguments,
                directory: harness.directory
            )
            do {
                /// The events the subscriber printed for `run`.
                func printed(_ run: String) throws -> [JSONValue] {
                    try subscriber.stdout.split(separator: "\n").map { try JSONValue(wireText: String($0)) }
                        .filter { $0["run"]?.stringValue == run }
                }
                /// Whether the subscriber printed `run`'s terminal event.
                func ended(_ run: String) throws -> Bool {
                    try printed(run).contains { $0["type"]?.stringValue == "final" }
                }
                try await harness.until(seconds: 20, "the subscription") { subscriber.stderr.contains("subscribed to") }
                let before = try await Self.complete(adminPool, "support")
                try await harness.until(seconds: 20, "the first run at the subscriber") { try ended(before.runId) }

                // Its key taken out: the coordinator drops it and refuses it; it says so.
                try set.allow([worker, admin])
                harness.coordinator.signal(SIGHUP)
                try await harness.until(seconds: 20, "the subscriber told it was refused") {
                    subscriber.stderr.contains("refused this connection's key")
                }
                let during = try await Self.complete(adminPool, "support")

                // Its key back: it connects again by itself and follows the namespace again.
                try set.allow([worker, admin, dash])
                harness.coordinator.signal(SIGHUP)
                try await harness.until(seconds: 30, "the subscriber accepted again") {
                    subscriber.stderr.contains("accepted this subscription again")
                }
                let after = try await Self.complete(adminPool, "support")
                try await harness.until(seconds: 20, "the run after the key's return at the subscriber") {
                    try ended(after.runId)
                }
                let seqs = try printed(after.runId).map { $0["seq"]?.intValue ?? 0 }
                #expect(seqs == Array(1...seqs.count) && seqs.count == Agent4.eventsPerRun, "seqs \(seqs)")
                #expect(try printed(during.runId).isEmpty, "the subscriber received events while its key was out")
                #expect(subscriber.isRunning)
            } catch {
                await subscriber.stop(grace: 2)
                throw error
            }
            await subscriber.stop(grace: 5)
        }
    }
}

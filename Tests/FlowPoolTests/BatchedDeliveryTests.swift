import FlowCore
import FlowPool
import Foundation
import Logging
import Subprocess
import Synchronization
import SystemPackage
import Testing
import ZeroMQ

/// Real `flowpool` processes on loopback: event batches to subscribers (docs/PROTOCOL.md, "Batched delivery").
@Suite("Batched delivery", .serialized, .timeLimit(.minutes(2)))
struct BatchedDeliveryTests {
    @Test("plain and batched subscribers get the same events in the same order; batches keep namespaces apart")
    func plainAndBatchedAgree() async throws {
        try await PoolHarness.with(workers: 2) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let plain = try await client.events(matching: "beta", batched: false)
                let batched = try await client.events(matching: "beta")
                let other = try await client.events(matching: "beta2")
                let wildcard = try await client.events(matching: "bet*")
                let subscriptions = [plain, batched, other, wildcard]
                let collectors = subscriptions.map { _ in EventCollector() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (events, collector) in zip(subscriptions, collectors) {
                        group.addTask { await events.collect(into: collector) }
                    }
                    try await withThrowingTaskGroup(of: Void.self) { runs in
                        for i in 0..<40 {
                            for namespace in ["beta", "beta2"] {
                                runs.addTask {
                                    _ = try await client.run(
                                        "agent4",
                                        namespace: namespace,
                                        input: ["question": .string("\(namespace) \(i)")]
                                    )
                                }
                            }
                        }
                        try await runs.waitForAll()
                    }
                    try await pool.until(seconds: 20, "every subscriber's terminal events") {
                        collectors[0].terminals >= 40 && collectors[1].terminals >= 40
                            && collectors[2].terminals >= 40 && collectors[3].terminals >= 80
                    }
                    for events in subscriptions { events.close() }
                    try await group.waitForAll()
                }
                let (plainEvents, batchedEvents) = (collectors[0].byRun, collectors[1].byRun)
                #expect(plainEvents.count == 40)
                #expect(batchedEvents.count == 40)
                for (run, events) in plainEvents {
                    #expect(batchedEvents[run] == events, "run \(run): batched delivery differs from plain")
                    expectCompleteRun(events, expectedLastAttemptEvents: 13)
                }
                #expect(collectors[1].events.allSatisfy { $0.event.namespace == "beta" })
                #expect(collectors[2].events.allSatisfy { $0.event.namespace == "beta2" })
                #expect(collectors[2].count == 40 * 13)
                #expect(collectors[3].count == 80 * 13)
                #expect(plain.statistics.batches == 0)
                #expect(batched.statistics.batches > 0, "the namespace subscription took batches")
                #expect(batched.statistics.batches < 40 * 13, "a batch carries more than one event")
                #expect(wildcard.statistics.batches > 0)
                for events in subscriptions { #expect(events.statistics.lost == 0) }
            }
        }
    }

    @Test("the coordinator's per-subscriber bound comes from --subscriber-buffer-mb, or --subscriber-hwm")
    func subscriberBoundFromFlags() async throws {
        for (arguments, hwm, buffer) in [
            (["--subscriber-buffer-mb", "2"], 64, 2 << 20),
            (["--subscriber-buffer-mb", "2", "--subscriber-hwm", "5"], 5, 2 << 20),
            ([], 2_048, 64 << 20),
        ] {
            try await PoolHarness.with(workers: 0, coordinatorArguments: arguments) { pool in
                try await PoolClient.withConnection(to: pool.control) { client in
                    let limits = try await client.status()["limits"]
                    #expect(limits?["subscriber_hwm"]?.intValue == hwm, "\(arguments)")
                    #expect(limits?["subscriber_buffer_bytes"]?.intValue == buffer, "\(arguments)")
                }
            }
        }
        for bad in [["--subscriber-buffer-mb", "0"], ["--subscriber-hwm", "-1"]] {
            let result = try await Subprocess.run(
                .path(FilePath(PoolHarness.executable)),
                arguments: Arguments(["coordinator", "--control-port", "0"] + bad),
                input: .none,
                output: .string(limit: 1 << 16),
                error: .string(limit: 1 << 16)
            )
            let output = result.standardOutput + result.standardError
            #expect(result.terminationStatus != .exited(0), "\(bad) was accepted")
            #expect(output.contains(bad[0]), "the error names the flag: \(output)")
        }
    }

    @Test("a batch subscriber that overflows the coordinator's high-water mark sees gaps that replay fills")
    func overflowRepairedFromReplay() async throws {
        try await PoolHarness.with(workers: 2, coordinatorArguments: ["--subscriber-hwm", "2"]) { pool in
            try await PoolClient.withConnection(to: pool.control) { client in
                let endpoint = try #require(pool.endpoints["events_out"]?.stringValue)
                let paused = try await PausedBatchSubscriber.connect(to: endpoint, namespace: "hwm")
                defer { paused.close() }
                let runs = 1_500
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<runs {
                        if i >= 64 { try await group.next() }
                        group.addTask {
                            _ = try await client.run("agent4", namespace: "hwm", input: ["question": .string("q\(i)")])
                        }
                    }
                    try await group.waitForAll()
                }
                // It read nothing while the runs went through: most of their batches were dropped.
                let received = try await paused.drain(timeout: .seconds(30))
                #expect(received.count < runs * 13, "the paused subscriber overflowed (\(received.count) events)")
                #expect(!received.isEmpty, "batches reached the subscriber once it read again")
                var byRun: [String: [Int: WireEvent]] = [:]
                var lastSeq: [String: Int] = [:]
                for e in received {
                    let seq = Int(e.event.seq)
                    #expect(seq > lastSeq[e.event.runId, default: 0], "batches keep each run's order")
                    lastSeq[e.event.runId] = seq
                    byRun[e.event.runId, default: [:]][seq] = e
                }
                var missing: [ReplayRange] = []
                let history = try await client.replay(pattern: "hwm")
                let allRuns = Set(history.map(\.event.runId))
                #expect(allRuns.count == runs)
                for run in allRuns {
                    let have = byRun[run] ?? [:]
                    let gaps = (1...13).filter { have[$0] == nil }
                    if let first = gaps.first, let last = gaps.last {
                        missing.append(
                            ReplayRange(namespace: "hwm", runId: run, attempt: 1, fromSeq: first, toSeq: last)
                        )
                    }
                }
                #expect(!missing.isEmpty)
                let fetched = try await client.replay(ranges: missing)
                for e in fetched where byRun[e.event.runId]?[Int(e.event.seq)] == nil {
                    byRun[e.event.runId, default: [:]][Int(e.event.seq)] = e
                }
                #expect(byRun.count == runs)
                for (run, events) in byRun {
                    #expect(events.keys.sorted() == Array(1...13), "run \(run) is complete after repair")
                    #expect(events[13]?.event.type == .final)
                }
            }
        }
    }
}

/// A batch subscriber that does not read until told to: tiny buffers, so the coordinator's high-water mark
/// overflows while it waits.
final class PausedBatchSubscriber: Sendable {
    let loop: SocketLoop
    let handle: SocketLoop.SocketHandle
    let inbox: InboundMessages

    private init(loop: SocketLoop, handle: SocketLoop.SocketHandle, inbox: InboundMessages) {
        self.loop = loop
        self.handle = handle
        self.inbox = inbox
    }

    static func connect(to endpoint: String, namespace: String) async throws -> PausedBatchSubscriber {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fp-paused", logger: Logger(label: "paused"))
        loop.start()
        let socket = try Socket(context, .sub)
        try socket.set(.receiveHighWaterMark(1))
        try socket.set(.int32(option: 12, value: 4096))  // ZMQ_RCVBUF
        try socket.connect(endpoint)
        try socket.set(.subscribe(EventBatch.subscriberTopicPrefix + Array("\(namespace)/".utf8)))
        let sync = Array("\u{0}sync/paused-first".utf8)
        try socket.set(.subscribe(sync))
        // Capacity 1: once one message waits, the loop stops reading the socket.
        let (handle, inbox) = try loop.addStream(socket, policy: .backpressure(capacity: 1), maxFrames: 2)
        let subscriber = PausedBatchSubscriber(loop: loop, handle: handle, inbox: inbox)
        var iterator = inbox.makeAsyncIterator()
        while let frames = await iterator.next() {
            if frames.first == sync { return subscriber }
        }
        throw HarnessError("the paused subscriber's handshake failed")
    }

    /// Reads everything the coordinator still holds for it: it subscribes to fresh sync topics until one is
    /// echoed (an echo queued behind a full high-water mark is dropped too, so it retries), and returns the
    /// events of every batch received before the echo.
    func drain(timeout: Duration) async throws -> [WireEvent] {
        let received = Mutex<(events: [WireEvent], syncs: Set<[UInt8]>, invalid: Int)>(([], [], 0))
        let inbox = self.inbox
        let reader = Task {
            for await frames in inbox {
                received.withLock { r in
                    if frames.first?.first == 0 {
                        r.syncs.insert(frames[0])
                        return
                    }
                    guard frames.count == 2, frames[0].first == 1, let batch = try? EventBatch.unpack(frames[1]) else {
                        r.invalid += 1
                        return
                    }
                    for raw in batch {
                        if let e = try? WireEvent.decode(topic: raw.topic, envelope: raw.envelope) {
                            r.events.append(e)
                        } else {
                            r.invalid += 1
                        }
                    }
                }
            }
        }
        defer { reader.cancel() }
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while ContinuousClock.now < deadline {
            attempt += 1
            let sync = Array("\u{0}sync/paused-\(attempt)".utf8)
            let handle = self.handle
            try await loop.perform { io in try io.socket(handle)?.set(.subscribe(sync)) }
            let retryAt = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < retryAt {
                let (echoed, events, invalid) = received.withLock { ($0.syncs.contains(sync), $0.events, $0.invalid) }
                if echoed {
                    #expect(invalid == 0)
                    return events
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw HarnessError("the paused subscriber never got its sync echo")
    }

    func close() {
        let loop = self.loop
        Task { await loop.shutdown() }
    }
}

/// Results pushed to clients: one message per run, or `result_batch` for clients that ask in `hello`.
@Suite("Result batches", .serialized, .timeLimit(.minutes(2)))
struct ResultBatchTests {
    @Test("a client that asks for result batches and one that does not each get exactly one result per run")
    func batchedAndPlainClients() async throws {
        try await PoolHarness.with(workers: 2) { pool in
            for batched in [true, false] {
                let client = try await RawControlClient.connect(to: pool.control)
                defer { client.close() }
                let hello =
                    batched ? #"{"v":1,"op":"hello","id":"h","batch_results":true}"# : #"{"v":1,"op":"hello","id":"h"}"#
                try await client.send(hello)
                let runs = 200
                for i in 0..<runs {
                    try await client.send(
                        #"{"v":1,"op":"submit","id":"s\#(i)","flow":"agent4","ns":"results","input":{"question":"q"}}"#
                    )
                }
                try await pool.until(seconds: 30, "\(runs) results") { client.resultIds.count >= runs }
                let ids = client.resultIds
                #expect(ids.count == runs && Set(ids).count == runs, "each run's result exactly once")
                if batched {
                    #expect(client.ops["result_batch", default: 0] >= 1)
                    #expect(client.ops["result", default: 0] == 0)
                } else {
                    #expect(client.ops["result", default: 0] == runs)
                    #expect(client.ops["result_batch", default: 0] == 0)
                }
            }
        }
    }
}

/// A DEALER on the control endpoint that speaks raw protocol frames and records what comes back.
final class RawControlClient: Sendable {
    let loop: SocketLoop
    let handle: SocketLoop.SocketHandle
    private final class Received: Sendable {
        let state = Mutex<(ops: [String: Int], resultIds: [String])>(([:], []))
    }

    private let received = Received()
    private let reader: Task<Void, Never>

    var ops: [String: Int] { received.state.withLock { $0.ops } }
    var resultIds: [String] { received.state.withLock { $0.resultIds } }

    private init(loop: SocketLoop, handle: SocketLoop.SocketHandle, inbox: InboundMessages) {
        self.loop = loop
        self.handle = handle
        let received = self.received
        reader = Task {
            for await frames in inbox {
                guard let frame = frames.first, let message = try? JSONValue(wireBytes: frame) else { continue }
                let op = message["op"]?.stringValue ?? "?"
                received.state.withLock { r in
                    r.ops[op, default: 0] += 1
                    if op == "result", let id = message["id"]?.stringValue { r.resultIds.append(id) }
                    if op == "result_batch" {
                        for item in message["results"]?.arrayValue ?? [] {
                            if let id = item["id"]?.stringValue { r.resultIds.append(id) }
                        }
                    }
                }
            }
        }
    }

    static func connect(to endpoint: String) async throws -> RawControlClient {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fp-rawctl", logger: Logger(label: "rawctl"))
        loop.start()
        let socket = try Socket(context, .dealer)
        try socket.connect(endpoint)
        let (handle, inbox) = try loop.addStream(socket, policy: .backpressure(capacity: 10_000), maxFrames: 4)
        return RawControlClient(loop: loop, handle: handle, inbox: inbox)
    }

    func send(_ text: String) async throws {
        try await loop.send([Array(text.utf8)], on: handle)
    }

    func close() {
        reader.cancel()
        let loop = self.loop
        Task { await loop.shutdown() }
    }
}

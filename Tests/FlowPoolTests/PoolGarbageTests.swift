import FlowCore
import FlowPool
import Foundation
import Logging
import Testing
import ZeroMQ

/// Hostile input on every socket the coordinator exposes, while legitimate runs are in flight.
@Suite("Pool rejects bad input", .serialized, .timeLimit(.minutes(2)))
struct PoolGarbageTests {
    static let random: [UInt8] = [0xFF, 0x00, 0x13, 0x37, 0xC3, 0x28, 0x7B, 0x22]

    @Test("garbage on every socket is rejected and counted; runs in flight still complete")
    func garbageEverywhere() async throws {
        try await PoolHarness.with(workers: 1, coordinatorArguments: ["--max-message-bytes", "65536"]) { pool in
            let e = pool.endpoints
            let controlEndpoint = try #require(e["control"]?.stringValue)
            let workersEndpoint = try #require(e["workers"]?.stringValue)
            let eventsIn = try #require(e["events_in"]?.stringValue)
            let eventsOut = try #require(e["events_out"]?.stringValue)
            try await PoolClient.withConnection(to: pool.control) { client in
                let before = try await pool.status()
                async let legit: [JSONValue] = withThrowingTaskGroup(of: JSONValue.self) { group in
                    for i in 0..<200 {
                        group.addTask {
                            try await client.run("agent4", namespace: "legit", input: ["question": .string("q\(i)")])
                        }
                    }
                    var answers: [JSONValue] = []
                    for try await a in group { answers.append(a) }
                    return answers
                }
                let context = try Context()
                try await withSocketLoop(context: context, name: "fp-garbage", logger: Logger(label: "garbage")) {
                    loop in
                    // Control endpoint: a DEALER that checks the error replies.
                    let dealer = try Socket(context, .dealer)
                    try dealer.connect(controlEndpoint)
                    let (control, replies) = try loop.addStream(dealer, maxFrames: 8)
                    var replyIterator = replies.makeAsyncIterator()
                    let cases: [([[UInt8]], PoolErrorCode)] = [
                        ([Self.random], .badRequest),
                        ([Array("{\"v\":1,\"op\":\"submit\"".utf8)], .badRequest),
                        ([Array("[1,2,3]".utf8)], .badRequest),
                        ([Array("{\"v\":2,\"op\":\"status\",\"id\":\"x\"}".utf8)], .unsupportedVersion),
                        ([Array("{\"v\":1,\"op\":\"explode\",\"id\":\"x\"}".utf8)], .unknownOp),
                        (
                            [Array("{\"v\":1,\"op\":\"submit\",\"id\":\"x\",\"flow\":\"agent4\",\"ns\":\"a/b\"}".utf8)],
                            .badRequest
                        ),
                        ([Array("{}".utf8), Array("{}".utf8)], .badFrames),
                    ]
                    for (frames, code) in cases {
                        try await loop.send(frames, on: control)
                        let reply = try #require(await replyIterator.next())
                        let decoded = try ControlReply.decode(reply)
                        guard case .error(_, let got, let message) = decoded else {
                            Issue.record("expected an error reply, got \(decoded)")
                            continue
                        }
                        #expect(got == code, "\(message)")
                        #expect(!message.isEmpty)
                    }

                    // More frames than any control message has: discarded unread, without a reply.
                    try await loop.send(Array(repeating: Array("{}".utf8), count: 9), on: control)

                    // Worker endpoint: garbage reports.
                    let fakeWorker = try Socket(context, .dealer)
                    try fakeWorker.set(.routingID(Array("garbage-worker".utf8)))
                    try fakeWorker.connect(workersEndpoint)
                    let (worker, _) = try loop.addStream(fakeWorker, maxFrames: 8)
                    try await loop.send(Array(repeating: Array("{}".utf8), count: 600), on: worker)
                    try await loop.send([Self.random], on: worker)
                    try await loop.send([Array("{\"v\":99,\"op\":\"hello\"}".utf8)], on: worker)
                    try await loop.send([Array("{\"v\":1,\"op\":\"result\",\"job\":\"x\"}".utf8)], on: worker)
                    try await loop.send([Array("{\"v\":1,\"op\":\"teleport\"}".utf8)], on: worker)

                    // Event ingest: an XPUB publisher (it sees the coordinator's subscription first). Without a
                    // credential its events are dropped as forged, whatever they hold; a message of one frame is no
                    // event at all.
                    let publisher = try Socket(context, .xpub)
                    try publisher.connect(eventsIn)
                    let (pub, subscriptions) = try loop.addStream(publisher, maxFrames: 2)
                    var subIterator = subscriptions.makeAsyncIterator()
                    _ = await subIterator.next()
                    try await loop.send([Self.random], on: pub)
                    try await loop.send([Array("legit/r/chunk".utf8), Self.random], on: pub)
                    try await loop.send([Array("a/b/c".utf8), Array("{}".utf8), Array("{}".utf8)], on: pub)
                    try await loop.send(
                        [
                            Array("legit/r/chunk".utf8),
                            Array(
                                "{\"v\":2,\"ns\":\"legit\",\"run\":\"r\",\"attempt\":1,\"seq\":1,\"type\":\"chunk\",\"node\":\"n\",\"ts\":1,\"content\":1}"
                                    .utf8
                            ),
                        ],
                        on: pub
                    )

                    // Event publish: an XSUB subscriber sending non-subscription messages upstream.
                    let xsub = try Socket(context, .xsub)
                    try xsub.connect(eventsOut)
                    let (sub, _) = try loop.addStream(xsub, maxFrames: 2)
                    try await loop.send([[0x42] + Self.random], on: sub)
                    try await loop.send([[0x01], [0x02]], on: sub)

                    // Oversized message: libzmq drops the sender's connection.
                    let disconnectsBefore = try await pool.status()["peer_disconnects"]?.intValue ?? 0
                    let big = try Socket(context, .dealer)
                    try big.connect(controlEndpoint)
                    let (bigHandle, _) = try loop.addStream(big)
                    try await loop.send([[UInt8](repeating: 0x41, count: 200_000)], on: bigHandle)
                    try await pool.until(seconds: 10, "oversized sender dropped") {
                        (try await pool.status()["peer_disconnects"]?.intValue ?? 0) > disconnectsBefore
                    }

                    try await pool.until(seconds: 10, "all rejections counted") {
                        let c = try await pool.status()["counters"] ?? [:]
                        func delta(_ key: String) -> Int {
                            (c[key]?.intValue ?? 0) - (before["counters"]?[key]?.intValue ?? 0)
                        }
                        return delta("rejected_bad_json") >= 6 && delta("rejected_bad_version") >= 2
                            && delta("rejected_unknown_op") >= 2 && delta("rejected_bad_frames") >= 2
                            && delta("rejected_bad_events") >= 1 && delta("rejected_forged") >= 3
                            && delta("rejected_too_many_frames") >= 2
                    }
                }
                let answers = try await legit
                #expect(answers.count == 200)
                #expect(answers.allSatisfy { $0 == .string(Agent4.expectedAnswer) })
                // Still serving.
                #expect(
                    try await client.run("agent4", namespace: "legit", input: ["question": "after"])
                        == .string(Agent4.expectedAnswer)
                )
                #expect(pool.coordinator.isRunning)
            }
        }
    }
}

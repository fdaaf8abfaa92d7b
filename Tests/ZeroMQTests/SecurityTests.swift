import Foundation
import Synchronization
import Testing
import ZeroMQ

@Suite struct SecurityTests {
    @Test func z85RoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for count in [0, 4, 32, 64, 400] {
            let original = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = try Z85.encode(original)
            #expect(encoded.utf8.count == count * 5 / 4)
            #expect(try Z85.decode(encoded) == original)
        }
        // The reference vector from RFC 32.
        #expect(try Z85.encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
        #expect(throws: ZeroMQError.self) { try Z85.encode([1, 2, 3]) }
        #expect(throws: ZeroMQError.self) { try Z85.decode("abcd") }
    }

    @Test func curveKeyPairsDeriveTheirPublicKey() throws {
        let keys = try CurveKeyPair.generate()
        #expect(keys.publicKey.utf8.count == 40)
        #expect(keys.secretKey.utf8.count == 40)
        #expect(try Z85.decode(keys.publicKey).count == 32)
        #expect(try CurveKeyPair(secretKey: keys.secretKey) == keys)
        #expect(try CurveKeyPair.generate() != keys)
        #expect(throws: ZeroMQError.self) { try CurveKeyPair(secretKey: "short") }
    }

    @Test func curveAllowListAcceptsKnownClientAndRefusesOthers() async throws {
        let context = try Context()
        let serverKeys = try CurveKeyPair.generate()
        let goodClient = try CurveKeyPair.generate()
        let badClient = try CurveKeyPair.generate()
        let zap = try ZAPHandler(context: context, allowedClientKeys: [goodClient.publicKey], logger: .test)

        let server = try Socket(context, .pull)
        try server.makeCurveServer(serverKeys)
        let monitor = try server.monitor([.handshakeSucceeded, .handshakeFailedAuth])
        let endpoint = try server.bind("tcp://127.0.0.1:*")

        let intruder = try Socket(context, .push)
        try intruder.makeCurveClient(badClient, serverPublicKey: serverKeys.publicKey)
        try intruder.set(.immediate(true))
        try intruder.connect(endpoint)
        _ = try intruder.trySend(multipart: [bytes("from intruder")])

        let client = try Socket(context, .push)
        try client.makeCurveClient(goodClient, serverPublicKey: serverKeys.publicKey)
        try client.connect(endpoint)
        try await client.sendEventually([bytes("from client")])

        #expect(try await server.receiveMultipart() == [bytes("from client")])
        #expect(await Deadline.wait { zap.deniedCount >= 1 })
        #expect(zap.acceptedCount >= 1)
        var kinds: MonitorEvent.Kind = []
        let clock = ContinuousClock()
        let end = clock.now + .seconds(30)
        while kinds != [.handshakeSucceeded, .handshakeFailedAuth] && clock.now < end {
            if let frames = try monitor.tryReceiveMultipart(), let event = MonitorEvent(frames: frames) {
                kinds.insert(event.kind)
                if event.kind == .handshakeFailedAuth { #expect(event.value == 400) }
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        #expect(kinds == [.handshakeSucceeded, .handshakeFailedAuth])
        #expect(try await server.receivesNothing(within: 0.2), "the refused client's message never arrives")

        // A client expecting another server key cannot talk either.
        let confused = try Socket(context, .push)
        try confused.makeCurveClient(goodClient, serverPublicKey: try CurveKeyPair.generate().publicKey)
        try confused.connect(endpoint)
        _ = try confused.trySend(multipart: [bytes("wrong server key")])
        #expect(try await server.receivesNothing(within: 0.2))
        await zap.stop()
    }
}

@Suite struct ZAPDecisionTests {
    @Test func decisionsByDomainAndKeyGiveEachConnectionItsUserId() async throws {
        let context = try Context()
        let serverKeys = try CurveKeyPair.generate()
        let allowed = try CurveKeyPair.generate()
        let seen = Mutex<[ZAPHandler.Request]>([])
        let zap = try ZAPHandler(context: context, logger: .test) { request in
            seen.withLock { $0.append(request) }
            guard request.domain == "inbox", request.publicKey == allowed.publicKey else {
                return .deny(reason: "not for this inbox")
            }
            return .allow(userId: "user-\(allowed.publicKey.prefix(4))")
        }
        let received = Mutex<[(String, String?)]>([])
        try await withSocketLoop(context: context, name: "zap-test", logger: .test) { loop in
            let server = try Socket(context, .pull)
            try server.makeCurveServer(serverKeys, domain: "inbox")
            let endpoint = try server.bind("tcp://127.0.0.1:*")
            _ = try loop.add(server, readsUserId: true) { frames, io in
                received.withLock { $0.append((String(decoding: frames[0], as: UTF8.self), io.userId)) }
            }
            let stranger = try Socket(context, .push)
            try stranger.makeCurveClient(try CurveKeyPair.generate(), serverPublicKey: serverKeys.publicKey)
            try stranger.set(.immediate(true))
            try stranger.connect(endpoint)
            _ = try stranger.trySend(multipart: [bytes("from a stranger")])
            let client = try Socket(context, .push)
            try client.makeCurveClient(allowed, serverPublicKey: serverKeys.publicKey)
            try client.connect(endpoint)
            try await client.sendEventually([bytes("hello")])
            #expect(await Deadline.wait { received.withLock { !$0.isEmpty } })
            #expect(await Deadline.wait { zap.deniedCount >= 1 })
            stranger.close()
            client.close()
        }
        let messages = received.withLock { $0 }
        #expect(messages.map(\.0) == ["hello"], "the refused client's message never arrives")
        #expect(messages.first?.1 == "user-\(allowed.publicKey.prefix(4))")
        let requests = seen.withLock { $0 }
        #expect(requests.allSatisfy { $0.domain == "inbox" && $0.mechanism == "CURVE" && $0.address == "127.0.0.1" })
        #expect(zap.acceptedCount == 1)
        await zap.stop()
    }
}

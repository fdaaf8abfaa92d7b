import CZeroMQ
import Foundation
import Testing
import ZeroMQ

@Suite struct SocketTests {
    @Test func bindReturnsTheEphemeralPort() throws {
        let context = try Context()
        let socket = try Socket(context, .pull)
        let endpoint = try socket.bind("tcp://127.0.0.1:*")
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = Int(endpoint.split(separator: ":").last ?? "")
        #expect((port ?? 0) > 0)
        try socket.unbind(endpoint)
        #expect(throws: ZeroMQError.self) { try socket.unbind(endpoint) }
    }

    @Test func errorsSayWhatWasAttempted() throws {
        let context = try Context()
        let first = try Socket(context, .pull)
        let endpoint = try first.bind("tcp://127.0.0.1:*")
        let second = try Socket(context, .pull)
        let error = try #require(throws: ZeroMQError.self) { try second.bind(endpoint) }
        #expect(error.code == .addressInUse)
        #expect(error.operation == "bind \(endpoint)")
        #expect(!error.message.isEmpty)
        let bad = try #require(throws: ZeroMQError.self) { try second.connect("nope://x") }
        #expect(bad.code == .protocolNotSupported)
    }

    @Test(arguments: Transport.allCases)
    func pushPullFanOutAndFanIn(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        // Fan-out: one PUSH, three PULLs, round-robin.
        let push = try Socket(context, .push)
        let endpoint = try push.bind(transport.endpoint(in: directory))
        let pulls = try (0..<3).map { _ in try Socket(context, .pull) }
        for pull in pulls { try pull.connect(endpoint) }
        // Wait until every PULL is connected: probes go round-robin to connected peers only.
        var probed = Set<Int>()
        let clock = ContinuousClock()
        let end = clock.now + .seconds(30)
        while probed.count < pulls.count && clock.now < end {
            try await push.sendEventually([bytes("probe")])
            try await Task.sleep(for: .milliseconds(1))
            for (number, pull) in pulls.enumerated() {
                while try pull.tryReceiveMultipart() != nil { probed.insert(number) }
            }
        }
        #expect(probed.count == pulls.count)
        let total = 300
        for index in 0..<total { try await push.sendEventually([bytes("\(index)")]) }
        var seen: [Int] = [0, 0, 0]
        var received = Set<Int>()
        let receiveEnd = clock.now + .seconds(30)
        while received.count < total && clock.now < receiveEnd {
            var progressed = false
            for (number, pull) in pulls.enumerated() {
                if let message = try pull.tryReceiveMultipart(), let index = Int(text(message[0])) {
                    received.insert(index)
                    seen[number] += 1
                    progressed = true
                }
            }
            if !progressed { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(received.count == total)
        #expect(seen == [100, 100, 100], "round-robin over connected peers: \(seen)")

        // Fan-in: three PUSHes, one PULL.
        let sink = try Socket(context, .pull)
        let sinkEndpoint = try sink.bind(transport.endpoint(in: directory))
        let pushes = try (0..<3).map { _ in try Socket(context, .push) }
        for (number, source) in pushes.enumerated() {
            try source.connect(sinkEndpoint)
            for index in 0..<100 { try await source.sendEventually([bytes("p\(number)"), bytes("\(index)")]) }
        }
        var perSource: [String: [Int]] = [:]
        for _ in 0..<300 {
            let message = try await sink.receiveMultipart()
            perSource[text(message[0]), default: []].append(Int(text(message[1]))!)
        }
        #expect(perSource.count == 3)
        for (_, indices) in perSource { #expect(indices == Array(0..<100), "per-sender order is kept") }
    }

    @Test(arguments: Transport.allCases)
    func pubSubFiltersByPrefix(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        let pub = try Socket(context, .pub)
        let endpoint = try pub.bind(transport.endpoint(in: directory))
        let sub = try Socket(context, .sub)
        try sub.subscribe("sales_agent/")
        try sub.connect(endpoint)
        // Subscriptions propagate asynchronously: publish a probe until one arrives.
        var joined = false
        for _ in 0..<2000 where !joined {
            try pub.send(multipart: [bytes("sales_agent/probe"), []])
            if let message = try sub.tryReceiveMultipart() { joined = text(message[0]) == "sales_agent/probe" }
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(joined)
        while try sub.tryReceiveMultipart() != nil {}
        try pub.send(multipart: [bytes("sales_agent2/run1/progress"), bytes("no")])
        try pub.send(multipart: [bytes("stock_agent/run1/progress"), bytes("no")])
        try pub.send(multipart: [bytes("sales_agent/run1/final"), bytes("yes")])
        let message = try await sub.receiveMultipart()
        #expect(message == [bytes("sales_agent/run1/final"), bytes("yes")])
        #expect(try await sub.receivesNothing(within: 0.1))
        try sub.unsubscribe("sales_agent/")
    }

    @Test(arguments: Transport.allCases)
    func routerDealerAddressing(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        let router = try Socket(context, .router)
        try router.set(.routerMandatory(true))
        let endpoint = try router.bind(transport.endpoint(in: directory))
        var dealers: [Socket] = []
        for name in ["worker-1", "worker-2"] {
            let dealer = try Socket(context, .dealer)
            try dealer.set(.routingID(bytes(name)))
            try dealer.connect(endpoint)
            try await dealer.sendEventually([bytes("hello from \(name)")])
            #expect(try dealer.routingID == bytes(name))
            dealers.append(dealer)
        }
        var identities: [String: String] = [:]
        for _ in 0..<2 {
            let message = try await router.receiveMultipart()
            #expect(message.count == 2)
            identities[text(message[0])] = text(message[1])
        }
        #expect(identities == ["worker-1": "hello from worker-1", "worker-2": "hello from worker-2"])
        try router.send(multipart: [bytes("worker-2"), bytes("for 2")])
        try router.send(multipart: [bytes("worker-1"), bytes("for 1")])
        #expect(try await dealers[0].receiveMultipart() == [bytes("for 1")])
        #expect(try await dealers[1].receiveMultipart() == [bytes("for 2")])
        let error = try #require(throws: ZeroMQError.self) {
            try router.send(multipart: [bytes("nobody"), bytes("lost")])
        }
        #expect(error.code == .hostUnreachable)
    }

    @Test(arguments: Transport.allCases)
    func largeMultipartMessagesArriveIntact(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        let pull = try Socket(context, .pull)
        let endpoint = try pull.bind(transport.endpoint(in: directory))
        let push = try Socket(context, .push)
        try push.connect(endpoint)
        let big = patterned(count: 8 << 20 + 17, seed: 1)
        let frames: [[UInt8]] = [
            bytes("header"), big, [], patterned(count: 1 << 20, seed: 2), patterned(count: 9 << 20, seed: 3),
        ]
        try await push.sendEventually(frames)
        let received = try await pull.receiveMultipart(within: 20)
        #expect(received.count == frames.count)
        #expect(received == frames)
    }

    @Test func tooManyFramesAreDiscardedAndTheSocketKeepsWorking() async throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        let endpoint = try pull.bind("inproc://frames")
        let push = try Socket(context, .push)
        try push.connect(endpoint)
        try push.send(multipart: Array(repeating: bytes("x"), count: 100))
        try push.send(multipart: [bytes("ok")])
        let error = try #require(throws: ZeroMQError.self) { try pull.tryReceiveMultipart(maxFrames: 10) }
        #expect(error.code == .tooManyFrames)
        #expect(try pull.tryReceiveMultipart(maxFrames: 10) == [bytes("ok")])
    }

    @Test func oversizedSenderIsDisconnectedAndOthersAreServed() async throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        try pull.set(.maxMessageSize(1024))
        #expect(try pull.maxMessageSize == 1024)
        let monitor = try pull.monitor([.accepted, .disconnected])
        let endpoint = try pull.bind("tcp://127.0.0.1:*")
        let offender = try Socket(context, .push)
        try offender.connect(endpoint)
        let honest = try Socket(context, .push)
        try honest.connect(endpoint)
        try await offender.sendEventually([[UInt8](repeating: 7, count: 4096)])
        // The receiver drops the connection of the peer that sent too much.
        var disconnected = false
        let clock = ContinuousClock()
        let end = clock.now + .seconds(30)
        while !disconnected && clock.now < end {
            if let frames = try monitor.tryReceiveMultipart(), let event = MonitorEvent(frames: frames) {
                disconnected = event.kind == .disconnected
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        #expect(disconnected)
        try await honest.sendEventually([bytes("small")])
        #expect(try await pull.receiveMultipart() == [bytes("small")])
        #expect(try await pull.receivesNothing(within: 0.1))
    }

    @Test func receiveTimeoutThrowsTimedOut() throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        try pull.bind("inproc://timeout")
        #expect(try pull.tryReceive() == nil)
        try pull.set(.receiveTimeout(20))
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(throws: ZeroMQError.self) { try pull.receive() }
        #expect(error.code == .timedOut)
        #expect(clock.now - start >= .milliseconds(15))
    }

    @Test func optionsUseExactCSizes() throws {
        let context = try Context()
        let socket = try Socket(context, .dealer)
        #expect(try socket.int32Option(ZMQ_LINGER) == 0, "sockets default to linger 0")
        try socket.set(.linger(250))
        try socket.set(.sendHighWaterMark(10))
        try socket.set(.receiveHighWaterMark(20))
        try socket.set(.maxMessageSize(1 << 33))
        try socket.set(.heartbeatInterval(1000))
        try socket.set(.heartbeatTimeout(3000))
        try socket.set(.heartbeatTTL(5000))
        try socket.set(.immediate(true))
        try socket.set(.reconnectInterval(50))
        try socket.set(.reconnectIntervalMax(2000))
        try socket.set(.tcpKeepalive(1))
        try socket.set(.sendTimeout(100))
        #expect(try socket.int32Option(ZMQ_LINGER) == 250)
        #expect(try socket.int32Option(ZMQ_SNDHWM) == 10)
        #expect(try socket.int32Option(ZMQ_RCVHWM) == 20)
        #expect(try socket.maxMessageSize == 1 << 33)
        #expect(try socket.int32Option(ZMQ_HEARTBEAT_IVL) == 1000)
        #expect(try socket.int32Option(ZMQ_IMMEDIATE) == 1)
        #expect(try socket.int32Option(ZMQ_RECONNECT_IVL_MAX) == 2000)
        #expect(try socket.int32Option(ZMQ_TCP_KEEPALIVE) == 1)
        #expect(try socket.events.contains(.readable) == false)
        #expect(try socket.fileDescriptor >= 0)
        let xpub = try Socket(context, .xpub)
        try xpub.set(.xpubVerbose(true))
        try xpub.set(.xpubNoDrop(true))
        try xpub.set(.xpubWelcomeMessage(bytes("welcome")))
        let error = try #require(throws: ZeroMQError.self) { try socket.set(.int32(option: 9999, value: 1)) }
        #expect(error.code == .invalidArgument)
    }

    @Test func pollerReportsReadySocketsAndDescriptors() throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        try pull.bind("inproc://poller")
        let push = try Socket(context, .push)
        try push.connect("inproc://poller")
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var poller = Poller()
        let socketIndex = poller.add(pull, events: .readable)
        let pipeIndex = poller.add(fileDescriptor: fds[0], events: .readable)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        try push.send("ping")
        var one: UInt8 = 1
        #expect(write(fds[1], &one, 1) == 1)
        #expect(try poller.poll(timeoutMilliseconds: 5000) == 2)
        #expect(poller.returnedEvents(at: socketIndex).contains(.readable))
        #expect(poller.returnedEvents(at: pipeIndex).contains(.readable))
        #expect(try pull.receive() == bytes("ping"))
    }

    @Test func reusableMessageReceivesWithoutCopies() throws {
        let context = try Context()
        let pull = try Socket(context, .pull)
        try pull.bind("inproc://message")
        let push = try Socket(context, .push)
        try push.connect("inproc://message")
        try push.send(bytes("first"), more: true)
        try push.send(bytes("second"))
        let message = Message()
        #expect(try pull.receive(into: message, wait: false))
        #expect(message.hasMore)
        #expect(message.withUnsafeBytes { Array($0) } == bytes("first"))
        #expect(try pull.receive(into: message, wait: false))
        #expect(!message.hasMore)
        #expect(message.bytes == bytes("second"))
        #expect(try !pull.receive(into: message, wait: false))
    }
}

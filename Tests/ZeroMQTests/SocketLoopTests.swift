import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

@Suite struct SocketLoopTests {
    @Test(arguments: Transport.allCases)
    func pushPullThroughLoop(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        try await Deadline.run(seconds: 20) {
            try await withSocketLoop(context: context, name: "test-loop", logger: .test) { loop in
                let pull = try Socket(context, .pull)
                let endpoint = try pull.bind(transport.endpoint(in: directory))
                let (_, inbox) = try loop.addStream(pull, policy: .backpressure(capacity: 64))
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                let out = try loop.add(push, outboundCapacity: 16)
                let count = 5000
                let producer = Task {
                    for index in 0..<count {
                        try await loop.send([bytes("job"), bytes("\(index)")], on: out)
                    }
                }
                var received = 0
                for await message in inbox {
                    #expect(message == [bytes("job"), bytes("\(received)")])
                    received += 1
                    if received == count { break }
                }
                try await producer.value
                #expect(received == count)
                #expect(loop.statistics.sent == count)
            }
        }
    }
}

extension SocketLoopTests {
    @Test func waitingReceiversDoNotStarveTheCooperativePool() async throws {
        // More receivers than cores, each waiting on its own loop thread, while a counter keeps running.
        let context = try Context()
        let receivers = 8
        var loops: [SocketLoop] = []
        var inboxes: [InboundMessages] = []
        var endpoints: [String] = []
        for index in 0..<receivers {
            let loop = try SocketLoop(context: context, name: "recv-\(index)", logger: .test)
            loop.start()
            let pull = try Socket(context, .pull)
            endpoints.append(try pull.bind("inproc://starve-\(index)"))
            inboxes.append(try loop.addStream(pull).messages)
            loops.append(loop)
        }
        let counter = Counter()
        let received = Counter()
        try await Deadline.run(seconds: 20) { [inboxes, endpoints] in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for inbox in inboxes {
                    group.addTask {
                        for await message in inbox {
                            #expect(message == [bytes("wake")])
                            received.increment()
                            break
                        }
                    }
                }
                group.addTask {
                    while received.value < receivers {
                        counter.increment()
                        await Task.yield()
                    }
                }
                // The counter progresses although eight receives are pending.
                #expect(await Deadline.wait { counter.value >= 10_000 })
                #expect(received.value == 0)
                let context2 = context
                for endpoint in endpoints {
                    let push = try Socket(context2, .push)
                    try push.connect(endpoint)
                    try await push.sendEventually([bytes("wake")])
                }
                try await group.waitForAll()
            }
        }
        #expect(received.value == receivers)
        for loop in loops { await loop.shutdown() }
    }

    @Test func backpressureStopsReadingWhileTheConsumerIsSlow() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-bp", logger: .test) { loop in
            let pull = try Socket(context, .pull)
            try pull.set(.receiveHighWaterMark(10))
            try pull.bind("inproc://backpressure")
            let capacity = 8
            var iterator = try loop.addStream(pull, policy: .backpressure(capacity: capacity)).messages
                .makeAsyncIterator()
            let push = try Socket(context, .push)
            try push.set(.sendHighWaterMark(10))
            try push.connect("inproc://backpressure")
            var accepted = 0
            // Sends succeed until the loop's buffer and both high-water marks are full.
            let clock = ContinuousClock()
            let end = clock.now + .seconds(30)
            var refusedInARow = 0
            while refusedInARow < 50 && clock.now < end && accepted < 100_000 {
                if try push.trySend(multipart: [bytes("\(accepted)")]) {
                    accepted += 1
                    refusedInARow = 0
                } else {
                    refusedInARow += 1
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            #expect(refusedInARow >= 50, "the sender was pushed back")
            #expect(accepted < 100, "little sits in pipes: \(accepted)")
            // The loop fills its buffer, then stops reading: it settles at exactly `capacity`.
            #expect(await Deadline.wait { loop.statistics.received == capacity })
            #expect(loop.statistics.received == capacity)
            for index in 0..<accepted {
                let message = await iterator.next()
                #expect(message == [bytes("\(index)")])
            }
        }
    }

    @Test func dropNewestKeepsReadingAndCountsDrops() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-drop", logger: .test) { loop in
            let pull = try Socket(context, .pull)
            try pull.bind("inproc://drops")
            let inbox = try loop.addStream(pull, policy: .dropNewest(capacity: 10)).messages
            let push = try Socket(context, .push)
            try push.connect("inproc://drops")
            for index in 0..<1000 { try await push.sendEventually([bytes("\(index)")]) }
            #expect(await Deadline.wait { loop.statistics.received == 1000 })
            #expect(inbox.droppedCount == 990)
            #expect(loop.statistics.inboundDropped == 990)
            var iterator = inbox.makeAsyncIterator()
            let batch = await iterator.nextBatch()
            #expect(batch == (0..<10).map { [bytes("\($0)")] })
        }
    }

    @Test func batchedSendsArriveInOrderAndInBatches() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-batch", logger: .test) { loop in
            let pull = try Socket(context, .pull)
            let endpoint = try pull.bind("tcp://127.0.0.1:*")
            let inbox = try loop.addStream(pull, policy: .backpressure(capacity: 4096)).messages
            let push = try Socket(context, .push)
            try push.connect(endpoint)
            let out = try loop.add(push, outboundCapacity: 512)
            let total = 20_000
            let messages = (0..<total).map { [bytes("topic"), bytes("\($0)")] }
            try await Deadline.run(seconds: 20) {
                try await loop.send(contentsOf: messages, on: out)
                var iterator = inbox.makeAsyncIterator()
                var next = 0
                var largest = 0
                while next < total, let batch = await iterator.nextBatch() {
                    largest = max(largest, batch.count)
                    for message in batch {
                        #expect(message == [bytes("topic"), bytes("\(next)")])
                        next += 1
                    }
                }
                #expect(next == total)
                #expect(largest > 1, "messages are handed over in batches")
            }
        }
    }

    @Test func handlersForwardOnTheLoopThread() async throws {
        // An event bus on the loop thread: XSUB → XPUB for messages, XPUB → XSUB for subscriptions.
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-bus", logger: .test) { loop in
            let xsub = try Socket(context, .xsub)
            let publishers = try xsub.bind("tcp://127.0.0.1:*")
            let xpub = try Socket(context, .xpub)
            let subscribers = try xpub.bind("tcp://127.0.0.1:*")
            let downstream = Counter()
            let upstream = Counter()
            _ = try loop.addForwarder(frontend: xsub, backend: xpub) { _, direction in
                direction == .downstream ? downstream.increment() : upstream.increment()
            }

            let pub = try Socket(context, .pub)
            try pub.connect(publishers)
            let sub = try Socket(context, .sub)
            try sub.subscribe("sales_agent/")
            try sub.connect(subscribers)
            var joined = false
            for _ in 0..<2000 where !joined {
                try pub.send(multipart: [bytes("sales_agent/probe")])
                joined = try sub.tryReceiveMultipart() != nil
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(joined)
            while try sub.tryReceiveMultipart() != nil {}
            try pub.send(multipart: [bytes("sales_agent2/r/final"), bytes("{}")])
            try pub.send(multipart: [bytes("sales_agent/r/final"), bytes("{\"ok\":true}")])
            #expect(try await sub.receiveMultipart() == [bytes("sales_agent/r/final"), bytes("{\"ok\":true}")])
            #expect(try await sub.receivesNothing(within: 0.1))
            #expect(upstream.value >= 1, "the subscription went upstream")
            #expect(downstream.value >= 2, "the probe and the final event came downstream")
        }
    }

    @Test func proxyForwardsBetweenXSubAndXPub() async throws {
        let context = try Context()
        let xsub = try Socket(context, .xsub)
        let publishers = try xsub.bind("inproc://proxy-in")
        let xpub = try Socket(context, .xpub)
        let subscribers = try xpub.bind("inproc://proxy-out")
        let proxy = try Proxy(frontend: xsub, backend: xpub, name: "test-proxy")
        let pub = try Socket(context, .pub)
        try pub.connect(publishers)
        let sub = try Socket(context, .sub)
        try sub.subscribe("stock_agent/")
        try sub.connect(subscribers)
        var joined = false
        for _ in 0..<2000 where !joined {
            try pub.send(multipart: [bytes("stock_agent/probe")])
            joined = try sub.tryReceiveMultipart() != nil
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(joined)
        try await Deadline.run(seconds: 5) { await proxy.stop() }
    }

    @Test func confirmedSendsReportRoutingFailures() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-confirm", logger: .test) { loop in
            let router = try Socket(context, .router)
            try router.set(.routerMandatory(true))
            let endpoint = try router.bind("tcp://127.0.0.1:*")
            let (routerHandle, requests) = try loop.addStream(router)
            let dealer = try Socket(context, .dealer)
            try dealer.set(.routingID(bytes("w1")))
            try dealer.connect(endpoint)
            let (dealerHandle, replies) = try loop.addStream(dealer)
            try await loop.send([bytes("status?")], on: dealerHandle)
            var requestIterator = requests.makeAsyncIterator()
            let request = try #require(await requestIterator.next())
            #expect(request == [bytes("w1"), bytes("status?")])
            try await loop.sendConfirmed([bytes("w1"), bytes("ok")], on: routerHandle)
            var replyIterator = replies.makeAsyncIterator()
            #expect(await replyIterator.next() == [bytes("ok")])
            let error = await #expect(throws: ZeroMQError.self) {
                try await loop.sendConfirmed([bytes("w9"), bytes("lost")], on: routerHandle)
            }
            #expect(error?.code == .hostUnreachable)
            #expect(loop.statistics.outboundFailed == 1)
            // A batch with a completion: called once, on the loop thread, with the outcome of its last message.
            let outcomes = Mutex<[(ok: Bool, onLoop: Bool)]>([])
            try await loop.send(
                contentsOf: [[bytes("w1"), bytes("a")], [bytes("w1"), bytes("b")]],
                on: routerHandle
            ) { result in
                let ok = (try? result.get()) != nil
                outcomes.withLock { $0.append((ok, loop.isCurrentThread)) }
            }
            #expect(await replyIterator.next() == [bytes("a")])
            #expect(await replyIterator.next() == [bytes("b")])
            try await loop.send(contentsOf: [[bytes("w9"), bytes("lost")]], on: routerHandle) { result in
                let ok = (try? result.get()) != nil
                outcomes.withLock { $0.append((ok, loop.isCurrentThread)) }
            }
            // The second batch's completion comes once the loop has tried its send.
            try await Deadline.run(seconds: 10) {
                while outcomes.withLock({ $0.count }) < 2 { await Task.yield() }
            }
            let seen = outcomes.withLock { $0 }
            #expect(seen.map(\.ok) == [true, false])
            #expect(seen.allSatisfy { $0.onLoop })
            // perform runs on the loop thread with access to the sockets.
            let id = try await loop.perform { io in try io.socket(dealerHandle)?.routingID }
            #expect(id == bytes("w1"))
            loop.remove(dealerHandle)
            for await _ in replies {}
            await #expect(throws: ZeroMQError.self) { try await loop.send([bytes("x")], on: dealerHandle) }
        }
    }

    @Test func monitorEventsFlowThroughTheLoop() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-monitor", logger: .test) { loop in
            let pull = try Socket(context, .pull)
            let monitor = try pull.monitor([.accepted, .disconnected])
            let endpoint = try pull.bind("tcp://127.0.0.1:*")
            _ = try loop.addStream(pull)
            let monitorMessages = try loop.addStream(monitor).messages
            try await Deadline.run(seconds: 10) {
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                var iterator = monitorMessages.compactMap { MonitorEvent(frames: $0) }.makeAsyncIterator()
                let accepted = await iterator.next()
                #expect(accepted?.kind == .accepted)
                push.close()
                let disconnected = await iterator.next()
                #expect(disconnected?.kind == .disconnected)
                #expect(disconnected?.endpoint.hasPrefix("tcp://127.0.0.1:") == true)
            }
        }
    }

    @Test func messagesWithTooManyFramesAreDiscardedAndCounted() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-frames", logger: .test) { loop in
            let pull = try Socket(context, .pull)
            try pull.bind("inproc://loop-frames")
            let inbox = try loop.addStream(pull, maxFrames: 4).messages
            let push = try Socket(context, .push)
            try push.connect("inproc://loop-frames")
            try push.send(multipart: Array(repeating: bytes("f"), count: 50))
            try push.send(multipart: [bytes("fine")])
            var iterator = inbox.makeAsyncIterator()
            #expect(await iterator.next() == [bytes("fine")])
            #expect(loop.statistics.oversizedDiscarded == 1)
        }
    }
}

extension SocketLoopTests {
    @Test func timerRunsOnTheLoopThreadWithoutTraffic() async throws {
        let context = try Context()
        try await Deadline.run(seconds: 20) {
            try await withSocketLoop(context: context, name: "test-timer", logger: .test) { loop in
                let ticks = Atomic<Int>(0)
                loop.setTimer(every: .milliseconds(10)) { _ in ticks.add(1, ordering: .relaxed) }
                let clock = ContinuousClock()
                let start = clock.now
                while ticks.load(ordering: .relaxed) < 5 { try await Task.sleep(for: .milliseconds(5)) }
                // Five ticks of 10 ms cannot come sooner than about 50 ms after the timer was set.
                #expect(clock.now - start >= .milliseconds(40))
            }
        }
    }

    @Test func roundEndRunsAfterHandledMessages() async throws {
        let context = try Context()
        try await Deadline.run(seconds: 20) {
            try await withSocketLoop(context: context, name: "test-round", logger: .test) { loop in
                let handled = Atomic<Int>(0)
                let seenAtRoundEnd = Mutex<[Int]>([])
                loop.setRoundEnd { _ in
                    let n = handled.load(ordering: .relaxed)
                    seenAtRoundEnd.withLock { $0.append(n) }
                }
                let pull = try Socket(context, .pull)
                let endpoint = try pull.bind("tcp://127.0.0.1:*")
                _ = try loop.add(pull, maxFrames: 1) { _, _ in handled.add(1, ordering: .relaxed) }
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                let out = try loop.add(push)
                try await loop.send(contentsOf: (0..<100).map { [bytes("m\($0)")] }, on: out)
                while handled.load(ordering: .relaxed) < 100 { try await Task.sleep(for: .milliseconds(5)) }
                while seenAtRoundEnd.withLock({ $0.last }) != 100 { try await Task.sleep(for: .milliseconds(5)) }
                let seen = seenAtRoundEnd.withLock { $0 }
                #expect(seen.allSatisfy { $0 > 0 }, "round end runs only after rounds that handled messages")
                #expect(seen == seen.sorted())
            }
        }
    }
}

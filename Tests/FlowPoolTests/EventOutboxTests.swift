import FlowCore
import Testing

@testable import FlowPool

@Suite("Worker event outbox")
struct EventOutboxTests {
    private func event(_ seq: Int, type: EventType = .chunk) -> StreamEvent {
        StreamEvent(
            namespace: "ns",
            runId: "r1",
            seq: UInt64(seq),
            type: type,
            node: "n",
            timestamp: 1_764_042_442.5,
            content: ["i": .int(seq)]
        )
    }

    @Test("events are packed into batches of at most 256, in order, decodable as sent")
    func packsInOrder() async throws {
        let outbox = EventOutbox(capacity: 10_000)
        for seq in 1...300 { outbox.push(event(seq), attempt: 2) }
        #expect(outbox.count == 300)
        let batches = try #require(await outbox.take()).batches
        #expect(batches.map(\.count) == [256, 44])
        var decoded: [WireEvent] = []
        for batch in batches {
            for raw in try EventBatch.unpack(batch.body) {
                decoded.append(try WireEvent.decode(topic: raw.topic, envelope: raw.envelope))
            }
        }
        #expect(decoded.map { Int($0.event.seq) } == Array(1...300))
        #expect(decoded.allSatisfy { $0.attempt == 2 && $0.event.runId == "r1" })
        #expect(decoded[9].event == event(10))
        let bytes = batches.reduce(0) { $0 + $1.body.count }
        #expect(outbox.bytes == bytes)
        outbox.markSent(300, bytes: bytes)
        #expect(outbox.count == 0 && outbox.bytes == 0)
    }

    @Test("the terminal event's frames are kept byte-identical to what is queued")
    func keepsTerminalFrames() async throws {
        let outbox = EventOutbox(capacity: 10)
        let (queued, frames) = outbox.push(event(1, type: .final), attempt: 1, keepFrames: true)
        #expect(queued)
        let kept = try #require(frames)
        let batches = try #require(await outbox.take()).batches
        #expect(try EventBatch.unpack(batches[0].body) == [kept])
    }

    @Test("a full outbox drops and counts instead of blocking; finish ends the publisher's wait")
    func dropsWhenFull() async throws {
        let outbox = EventOutbox(capacity: 2)
        #expect(outbox.push(event(1), attempt: 1).queued)
        #expect(outbox.push(event(2), attempt: 1).queued)
        #expect(!outbox.push(event(3), attempt: 1).queued)
        #expect(outbox.dropped == 1)
        let batches = try #require(await outbox.take()).batches
        #expect(batches.map(\.count) == [2])
        outbox.markSent(2, bytes: batches[0].body.count)
        async let end = outbox.take()
        outbox.finish()
        #expect(await end == nil)
    }

    @Test("beyond its byte bound the outbox drops and counts; an event alone always fits; sent bytes free room")
    func dropsBeyondBytes() async throws {
        let one = EventOutbox(capacity: 1_000)
        one.push(event(1), attempt: 1)
        let size = one.bytes
        #expect(size > 0)
        // Room for three events of this size, not four.
        let outbox = EventOutbox(capacity: 1_000, maxBytes: 3 * size + size / 2)
        for seq in 1...3 { #expect(outbox.push(event(seq), attempt: 1).queued) }
        #expect(!outbox.push(event(4), attempt: 1).queued)
        #expect(outbox.dropped == 1 && outbox.count == 3 && outbox.bytes == 3 * size)
        let batches = try #require(await outbox.take()).batches
        #expect(batches.map(\.count) == [3])
        outbox.markSent(3, bytes: batches[0].body.count)
        #expect(outbox.bytes == 0)
        #expect(outbox.push(event(5), attempt: 1).queued, "room again once sent")
        // An event larger than the whole bound still goes when nothing else waits, so no event is unsendable.
        let tiny = EventOutbox(capacity: 1_000, maxBytes: 16)
        #expect(tiny.push(event(1), attempt: 1).queued)
        #expect(!tiny.push(event(2), attempt: 1).queued)
        #expect(tiny.dropped == 1)
    }

    @Test("waiting until sent returns once every taken event has been handed to the socket, not before")
    func waitsUntilSent() async throws {
        let outbox = EventOutbox(capacity: 100)
        await outbox.waitUntilSent()  // nothing queued: at once
        for seq in 1...5 { outbox.push(event(seq), attempt: 1) }
        let bytes = try #require(await outbox.take()).batches.reduce(0) { $0 + $1.body.count }
        outbox.finish()
        let waiting = Task { await outbox.waitUntilSent() }
        let deadline = ContinuousClock.now + .seconds(10)
        while outbox.waitingUntilSent == 0 {
            try #require(ContinuousClock.now < deadline, "the waiter never registered")
            await Task.yield()
        }
        outbox.markSent(3, bytes: bytes / 2)
        #expect(outbox.count == 2)
        #expect(outbox.waitingUntilSent == 1, "returned with events still unsent")
        outbox.markSent(2, bytes: bytes - bytes / 2)
        #expect(outbox.waitingUntilSent == 0)
        await waiting.value
        #expect(outbox.count == 0)
    }

    @Test("a result is taken with the events queued before it, never ahead of them; finish waits for results")
    func resultsFollowTheirEvents() async throws {
        let outbox = EventOutbox(capacity: 1_000)
        let terminal = try #require(outbox.push(event(1, type: .final), attempt: 1, keepFrames: true).frames)
        outbox.push(result: EventOutbox.PendingResult(element: Array("{}".utf8), terminal: terminal))
        let first = try #require(await outbox.take())
        #expect(first.batches.map(\.count) == [1])
        #expect(first.results.map(\.terminal) == [terminal])
        outbox.markSent(1, bytes: first.batches[0].body.count)
        // A result alone wakes the publisher; finishing still hands over what is queued first.
        outbox.push(result: EventOutbox.PendingResult(element: Array("{}".utf8), terminal: terminal))
        outbox.finish()
        let second = try #require(await outbox.take())
        #expect(second.batches.isEmpty && second.results.count == 1)
        #expect(await outbox.take() == nil)
    }

    @Test("an event packed with its run's prefix is byte-identical to one packed without it")
    func prefixIdentical() throws {
        for (ns, run, attempt) in [("ns", "r1", 1), ("sales_agent", "run-\u{e9}\"x", 12)] {
            let prefix = WireEvent.RunPrefix(namespace: ns, runId: run, attempt: attempt)
            for type in [EventType.chunk, .final] {
                var e = event(7, type: type)
                e.namespace = ns
                e.runId = run
                #expect(prefix.matches(e))
                var plain: [UInt8] = []
                var fast: [UInt8] = []
                let a = WireEvent.appendPacked(e, attempt: attempt, to: &plain)
                let b = WireEvent.appendPacked(e, attempt: attempt, prefix: prefix, to: &fast)
                #expect(plain == fast && a.topic == b.topic && a.envelope == b.envelope)
                let wire = WireEvent(event: e, attempt: attempt)
                #expect(Array(fast[b.topic]) == wire.topicBytes && Array(fast[b.envelope]) == wire.envelopeBytes)
            }
        }
        var other = event(1)
        other.runId = "r2"
        #expect(!WireEvent.RunPrefix(namespace: "ns", runId: "r1", attempt: 1).matches(other))
    }
}

import FlowCore
import Testing

struct CancellationTests {
    private func waitUntil(_ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
        try await withDeadline(.seconds(20), what) {
            while !condition() { try await Task.sleep(for: .milliseconds(1)) }
        }
    }

    @Test func cancellingTheTaskStopsTheRunWithACancelledEvent() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        let started = Counter()
        let after = Counter()
        struct Never: Node {
            let after: Counter
            func exec(_ prep: Void) async throws { after.increment() }
        }
        var flow = Flow(name: "f")
        let blocking = flow.add(BlockingNode(started: started))
        let next = flow.add(Never(after: after))
        flow.connect(blocking, to: next)

        let run = Task { try await flow.run(namespace: "t", runId: "c1", sink: streamer) }
        try await waitUntil("the node to start") { started.count == 1 }
        run.cancel()
        await #expect(throws: CancellationError.self) { try await run.value }
        #expect(after.count == 0)

        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .cancelled)
        #expect(collected.map(\.type) == [.progress, .cancelled])
        #expect(collected.last?.content == ["node": "blocking"])
    }

    @Test func cancellationInterruptsARetryWait() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        let attempts = Counter()
        var flow = Flow(name: "f")
        flow.add(FlakyNode(attempts: attempts, failures: 100, maxRetries: 5, wait: .seconds(3600), fallbackValue: 1))
        let run = Task { try await flow.run(namespace: "t", sink: streamer) }
        try await waitUntil("the first attempt") { attempts.count == 1 }
        run.cancel()
        await #expect(throws: CancellationError.self) { try await run.value }
        #expect(attempts.count == 1)
        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .cancelled)
    }

    @Test func aCancelledParallelBatchEndsWithOneCancelledEvent() async throws {
        struct Sleepy: ParallelBatchNode {
            let started: Counter
            func prep(_ shared: SharedStore) async throws -> [Int] { Array(0..<20) }
            func exec(_ item: Int) async throws {
                emit(.progress, ["item": .int(item)])
                started.increment()
                try await Task.sleep(for: .seconds(3600))
            }
        }
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        let started = Counter()
        let run = Task { try await Sleepy(started: started).run(namespace: "t", sink: streamer) }
        try await waitUntil("items to start") { started.count >= 8 }
        run.cancel()
        await #expect(throws: CancellationError.self) { try await run.value }
        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .cancelled)
        #expect(collected.count == 9)
    }
}

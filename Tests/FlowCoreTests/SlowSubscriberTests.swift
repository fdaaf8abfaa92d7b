import FlowCore
import Testing

struct SlowSubscriberTests {
    /// A subscriber that reads nothing while runs go on: the runs finish, overflow is dropped and counted,
    /// every final event is kept, and the gaps show in `seq`.
    @Test func slowSubscriberNeverBlocksAndKeepsFinals() async throws {
        let streamer = EventStreamer()
        let slow = try streamer.subscribe("sales_agent", bufferSize: 8)
        let fast = try streamer.subscribe("sales_agent")
        let flow = Agent4.makeFlow()
        var results: [FlowResult] = []
        for i in 0..<3 {
            results.append(
                try await flow.run(
                    Agent4.makeStore(question: "q"),
                    namespace: "sales_agent",
                    runId: "r\(i)",
                    sink: streamer
                )
            )
        }
        #expect(results.allSatisfy { $0.value == .string(Agent4.expectedAnswer) })

        #expect(slow.receivedCount == 39)
        #expect(slow.droppedCount == 31)
        #expect(slow.droppedTerminalCount == 0)
        let kept = try await collect(slow, terminals: 3)
        #expect(kept.count == 8)
        #expect(kept.filter { $0.type == .final }.map(\.runId) == ["r0", "r1", "r2"])
        // Within each run the kept events are in order, and the missing seq numbers are the drops.
        for (_, run) in Dictionary(grouping: kept, by: \.runId) {
            #expect(run.map(\.seq) == run.map(\.seq).sorted())
            #expect(run.last?.seq == 13)
        }

        let all = try await collect(fast, terminals: 3)
        #expect(all.count == 39)
        #expect(fast.droppedCount == 0)
    }

    /// When the buffer holds nothing but terminal events, the oldest terminal makes room and is counted.
    @Test func onlyABufferFullOfTerminalsDropsATerminal() async throws {
        let streamer = EventStreamer()
        let slow = try streamer.subscribe("sales_agent", bufferSize: 2)
        let flow = Agent4.makeFlow()
        for i in 0..<5 {
            try await flow.run(
                Agent4.makeStore(question: "q"),
                namespace: "sales_agent",
                runId: "r\(i)",
                sink: streamer
            )
        }
        #expect(slow.droppedTerminalCount == 3)
        #expect(slow.droppedCount == 65 - 2)
        let kept = try await collect(slow, terminals: 2)
        #expect(kept.map(\.runId) == ["r3", "r4"])
        #expect(kept.allSatisfy { $0.type == .final })
    }

    /// A consumer that is slow while the runs are going on: the runs are not held up, and with room for as
    /// many finals as there are runs, every run's final arrives however many other events are dropped.
    @Test func slowConcurrentConsumerGetsEveryFinal() async throws {
        let streamer = EventStreamer()
        let runs = 40
        let slow = try streamer.subscribe("sales_agent", bufferSize: 64)
        async let consumed = withDeadline(.seconds(20), "the slow consumer") {
            var finals: [String] = []
            var events = 0
            for await event in slow {
                events += 1
                if event.type == .final {
                    finals.append(event.runId)
                    if finals.count == runs { break }
                }
                if events % 5 == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
            return (finals, events)
        }
        let flow = Agent4.makeFlow()
        for i in 0..<runs {
            try await flow.run(
                Agent4.makeStore(question: "q"),
                namespace: "sales_agent",
                runId: "r\(i)",
                sink: streamer
            )
        }
        let (finals, events) = try await consumed
        #expect(finals == (0..<runs).map { "r\($0)" })
        #expect(slow.droppedTerminalCount == 0)
        #expect(events + slow.droppedCount == 13 * runs)
    }
}

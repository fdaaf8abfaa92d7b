import FlowCore
import Testing

struct EventTests {
    @Test func agent4EmitsThirteenEventsEndingInFinal() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("sales_agent")
        let shared = Agent4.makeStore(question: "what sold best?")
        let result = try await Agent4.makeFlow().run(shared, namespace: "sales_agent", runId: "r1", sink: streamer)
        let collected = try await collect(events, terminals: 1)

        expectWellFormedRun(collected, terminal: .final)
        #expect(collected.count == Agent4.eventsPerRun)
        let types: [EventType] =
            [.progress, .decisionMade, .paramsGenerated, .toolsExecuted] + Array(repeating: .chunk, count: 8) + [.final]
        #expect(collected.map(\.type) == types)
        #expect(
            collected.map(\.node) == ["decision", "decision", "tool_params", "tool_exec"]
                + Array(repeating: "final_answer", count: 9)
        )
        #expect(collected.allSatisfy { $0.namespace == "sales_agent" && $0.runId == "r1" })
        #expect(collected[0].content == ["status": "making_decision"])
        #expect(collected[1].content == ["decision": "tool", "tool_requests": 1])
        #expect(collected[2].content == ["count": 1])
        #expect(collected[3].content == ["count": 1])
        #expect(collected[4].content == ["text": "tok0 "])
        #expect(collected[12].content == ["answer": .string(Agent4.expectedAnswer)])
        #expect(collected.map(\.timestamp) == collected.map(\.timestamp).sorted())

        #expect(result.value == .string(Agent4.expectedAnswer))
        #expect(result.eventCount == 13)
        #expect(result.ignoredEvents == 0)
        #expect(shared["answer"] == .string(Agent4.expectedAnswer))
        #expect(shared["decision"]?["action"] == "tool")
        #expect(shared["params"] == [["tool": "lookup", "args": ["q": "what sold best?"]]])
        #expect(shared["tools"] == [["tool": "lookup", "result": 15]])
    }

    @Test func streamingOrAwaitingGivesTheSameResult() async throws {
        let streamer = EventStreamer()
        let flow = Agent4.makeFlow()

        let quiet = Agent4.makeStore(question: "q")
        let awaited = try await flow.run(quiet, namespace: "sales_agent", runId: "r", sink: streamer)

        let events = try streamer.subscribe("sales_agent")
        let live = Agent4.makeStore(question: "q")
        async let streamed = flow.run(live, namespace: "sales_agent", runId: "r", sink: streamer)
        let collected = try await collect(events, terminals: 1)
        let streamedResult = try await streamed

        #expect(streamedResult == awaited)
        #expect(live.snapshot() == quiet.snapshot())
        #expect(collected.count == 13)
        #expect(collected.last?.content["answer"] == awaited.value)
    }

    @Test func concurrentNamespacesNeverMix() async throws {
        let streamer = EventStreamer()
        let sales = try streamer.subscribe("sales_agent")
        let stock = try streamer.subscribe("stock_agent")
        let everything = try streamer.subscribe("*")
        let flow = Agent4.makeFlow()
        let runs = 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<runs {
                group.addTask {
                    try await flow.run(Agent4.makeStore(question: "s\(i)"), namespace: "sales_agent", sink: streamer)
                }
                group.addTask {
                    try await flow.run(Agent4.makeStore(question: "t\(i)"), namespace: "stock_agent", sink: streamer)
                }
            }
            try await group.waitForAll()
        }
        let salesEvents = try await collect(sales, terminals: runs)
        let stockEvents = try await collect(stock, terminals: runs)
        let allEvents = try await collect(everything, terminals: 2 * runs)
        #expect(salesEvents.count == 13 * runs)
        #expect(stockEvents.count == 13 * runs)
        #expect(allEvents.count == 26 * runs)
        #expect(salesEvents.allSatisfy { $0.namespace == "sales_agent" })
        #expect(stockEvents.allSatisfy { $0.namespace == "stock_agent" })
        for (_, run) in Dictionary(grouping: salesEvents, by: \.runId) { expectWellFormedRun(run, terminal: .final) }
        for (_, run) in Dictionary(grouping: stockEvents, by: \.runId) { expectWellFormedRun(run, terminal: .final) }
        #expect(sales.droppedCount == 0 && stock.droppedCount == 0 && everything.droppedCount == 0)
    }

    @Test func namespaceSubscriberDoesNotReceiveALongerNamespace() async throws {
        let streamer = EventStreamer()
        let sales = try streamer.subscribe("sales_agent")
        let prefix = try streamer.subscribe("sales_*")
        let flow = Agent4.makeFlow()
        try await flow.run(Agent4.makeStore(question: "q"), namespace: "sales_agent2", runId: "x", sink: streamer)
        try await flow.run(Agent4.makeStore(question: "q"), namespace: "sales_agent", runId: "y", sink: streamer)
        let received = try await collect(sales, terminals: 1)
        #expect(received.count == 13)
        #expect(received.allSatisfy { $0.namespace == "sales_agent" && $0.runId == "y" })
        let prefixed = try await collect(prefix, terminals: 2)
        #expect(prefixed.count == 26)
        #expect(Set(prefixed.map(\.namespace)) == ["sales_agent", "sales_agent2"])
    }

    @Test func runPatternReceivesOneRunAndTypePrefixFilters() async throws {
        let streamer = EventStreamer()
        let one = try streamer.subscribe("sales_agent/r2")
        let finals = try streamer.subscribe("sales_agent/r2/fi*")
        let flow = Agent4.makeFlow()
        for run in ["r1", "r2", "r22"] {
            try await flow.run(Agent4.makeStore(question: run), namespace: "sales_agent", runId: run, sink: streamer)
        }
        let received = try await collect(one, terminals: 1)
        #expect(received.count == 13)
        #expect(received.allSatisfy { $0.runId == "r2" })
        let onlyFinal = try await collect(finals, terminals: 1)
        #expect(onlyFinal.map(\.type) == [.final])
        #expect(onlyFinal.first?.seq == 13)
        #expect(onlyFinal.first?.runId == "r2")
    }

    @Test func engineEmitsFinalWithTheResultWhenNoNodeDid() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        var flow = Flow(name: "f", resultKey: "out")
        let e = flow.add(EmitNode(name: "e", count: 3))
        let s = flow.add(SetNode(name: "s", key: "out", value: ["v": 1]))
        flow.connect(e, to: s)
        let result = try await flow.run(namespace: "t", sink: streamer)
        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .final)
        #expect(collected.count == 4)
        #expect(collected.last?.content == ["v": 1])
        #expect(collected.last?.node == "f")
        #expect(result.value == ["v": 1])
        #expect(result.eventCount == 4)
    }

    @Test func errorEndsTheRunWithOneErrorEvent() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        var inner = Flow(name: "inner")
        let e = inner.add(EmitNode(name: "e", count: 2))
        let f = inner.add(FailingNode(name: "boom"))
        inner.connect(e, to: f)
        var outer = Flow(name: "outer")
        outer.add(inner)
        await #expect(throws: FailingNode.Failure.self) { try await outer.run(namespace: "t", sink: streamer) }
        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .error)
        #expect(collected.count == 3)
        #expect(
            collected.last?.content == ["code": "flow_failed", "message": "node failed on purpose", "node": "boom"]
        )
        #expect(collected.last?.node == "boom")
    }

    @Test func aRetriedNodeEmitsOneRetryingEventPerFailedAttemptBeforeTheNext() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        var flow = Flow(name: "f", resultKey: "result")
        flow.add(FlakyNode(name: "flaky", attempts: Counter(), failures: 2, maxRetries: 3, wait: .milliseconds(20)))
        let result = try await flow.run(namespace: "t", sink: streamer)
        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .final)
        #expect(collected.map(\.type) == [.retrying, .retrying, .final])
        #expect(collected.allSatisfy { $0.node == "flaky" || $0.type == .final })
        for (i, event) in collected.prefix(2).enumerated() {
            #expect(event.content["attempt"] == .int(i + 1))
            #expect(event.content["max_attempts"] == 3)
            #expect(event.content["wait_ms"] == 20)
            #expect(event.content["error"]?.stringValue?.contains("Flake") == true)
        }
        #expect(result.value == 3)
        // A node that succeeds at once, or one whose last attempt fails, emits no retrying event for it.
        let quiet = try streamer.subscribe("q")
        var once = Flow(name: "once", resultKey: "result")
        once.add(FlakyNode(name: "flaky", attempts: Counter(), failures: 5, maxRetries: 2, fallbackValue: 1))
        _ = try await once.run(namespace: "q", sink: streamer)
        let fallback = try await collect(quiet, terminals: 1)
        #expect(fallback.map(\.type) == [.retrying, .final], "one retry between the two attempts, then the fallback")
    }

    @Test func anExecTimeoutCancelsTheAttemptAndTakesPartInRetryAndFallback() async throws {
        /// Its first `slowAttempts` execs hang (until cancelled); later ones answer at once.
        struct SlowNode: Node {
            let attempts: Counter
            let slowAttempts: Int
            var maxRetries: Int
            var execTimeout: Duration? { .milliseconds(50) }
            var name: String { "slow" }

            func exec(_ prep: Void) async throws -> Int {
                let n = attempts.increment()
                if n <= slowAttempts { try await Task.sleep(for: .seconds(60)) }
                return n
            }

            func execFallback(_ prep: Void, error: any Error) async throws -> Int {
                #expect(error is ExecTimeout)
                return -1
            }

            func post(_ shared: SharedStore, prep: Void, exec: Int) async throws -> Action {
                shared["result"] = .int(exec)
                return .default
            }
        }
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        var flow = Flow(name: "f", resultKey: "result")
        flow.add(SlowNode(attempts: Counter(), slowAttempts: 1, maxRetries: 2))
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await flow.run(namespace: "t", sink: streamer)
        #expect(clock.now - start < .seconds(30), "the hanging attempt was cancelled, not waited for")
        #expect(result.value == 2, "the second attempt answered")
        let collected = try await collect(events, terminals: 1)
        #expect(collected.map(\.type) == [.retrying, .final])
        #expect(collected.first?.content["error"]?.stringValue?.contains("took longer than its timeout") == true)
        // Every attempt too slow: the fallback decides.
        var all = Flow(name: "all", resultKey: "result")
        all.add(SlowNode(attempts: Counter(), slowAttempts: 3, maxRetries: 2))
        #expect(try await all.run(namespace: "u", sink: streamer).value == -1)
    }

    @Test func eventsAfterATerminalEventAreIgnoredAndCounted() async throws {
        struct EarlyFinal: Node {
            func exec(_ prep: Void) async throws {
                emit(.final, ["answer": "early"])
                emit(.chunk, ["text": "late"])
                emit(.final, ["answer": "again"])
            }
        }
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        let logs = LogCapture()
        var flow = Flow(name: "f")
        let a = flow.add(EarlyFinal())
        let b = flow.add(EmitNode(name: "after", count: 2))
        flow.connect(a, to: b)
        let result = try await flow.run(namespace: "t", sink: streamer, logger: logs.logger)
        #expect(result.eventCount == 1)
        #expect(result.ignoredEvents == 4)
        #expect(logs.warnings(containing: "after the run's terminal event").count == 1)
        // Another run's final marks the end of what this subscriber could have been sent for the first.
        try await flow.run(namespace: "t", runId: "marker", sink: streamer)
        let collected = try await collect(events, terminals: 2)
        let first = collected.filter { $0.runId == result.runId }
        #expect(first.map(\.type) == [.final])
        #expect(first.first?.content == ["answer": "early"])
    }

    @Test func aFlowThatThrowsAfterANodeEmittedFinalKeepsThatFinal() async throws {
        struct Finisher: Node {
            func exec(_ prep: Void) async throws { emit(.final, ["answer": "done"]) }
        }
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        var flow = Flow(name: "f")
        let finisher = flow.add(Finisher())
        let failing = flow.add(FailingNode())
        flow.connect(finisher, to: failing)
        await #expect(throws: FailingNode.Failure.self) { try await flow.run(namespace: "t", sink: streamer) }
        try await SetNode(name: "s", key: "k", value: 1).run(namespace: "t", runId: "marker", sink: streamer)
        let collected = try await collect(events, terminals: 2)
        #expect(collected.map(\.type) == [.final, .final])
        #expect(collected.first?.content == ["answer": "done"])
        #expect(collected.last?.runId == "marker")
    }

    @Test func emitOutsideARunIsANoOp() async throws {
        let streamer = EventStreamer()
        let events = try streamer.subscribe("*")
        emit(.progress, ["status": "nobody"])
        #expect(EventContext.current == nil)
        try await SetNode(name: "s", key: "k", value: 1).run(namespace: "t", runId: "r", sink: streamer)
        let collected = try await collect(events, terminals: 1)
        #expect(collected.map(\.type) == [.final])
    }

    @Test func callbackSubscriptionReceivesEventsUntilCancelled() async throws {
        let streamer = EventStreamer()
        let seen = Counter()
        let finals = Counter()
        let token = try streamer.subscribe("sales_agent") { event in
            seen.increment()
            if event.type == .final { finals.increment() }
        }
        #expect(streamer.subscriptionCount == 1)
        try await Agent4.makeFlow().run(Agent4.makeStore(question: "q"), namespace: "sales_agent", sink: streamer)
        try await withDeadline(.seconds(20), "the handler to see the final event") {
            while finals.count < 1 { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(seen.count == 13)
        token.cancel()
        #expect(streamer.subscriptionCount == 0)
    }

    @Test func subscriptionEndsWhenIterationEndsOrItIsReleased() async throws {
        let streamer = EventStreamer()
        do {
            let subscription = try streamer.subscribe("*")
            #expect(streamer.subscriptionCount == 1)
            _ = subscription
        }
        #expect(streamer.subscriptionCount == 0)

        let subscription = try streamer.subscribe("*")
        try await SetNode(name: "s", key: "k", value: 1).run(namespace: "t", sink: streamer)
        for await _ in subscription { break }
        #expect(streamer.subscriptionCount == 0)
        #expect(throws: FlowError.self) { try streamer.subscribe("bad//pattern") }
        #expect(EventStreamer.getInstance() === EventStreamer.shared)
    }

    @Test func aSubscriptionIteratedInPlaceStaysAlive() async throws {
        let streamer = EventStreamer()
        let consumer = Task {
            var types: [EventType] = []
            for await event in try streamer.subscribe("sales_agent") {
                types.append(event.type)
                if event.type.isTerminal { break }
            }
            return types
        }
        try await withDeadline(.seconds(20), "the subscription") {
            while streamer.subscriptionCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        try await Agent4.makeFlow().run(Agent4.makeStore(question: "q"), namespace: "sales_agent", sink: streamer)
        let types = try await withDeadline(.seconds(20), "the consumer") {
            try await withTaskCancellationHandler {
                try await consumer.value
            } onCancel: {
                consumer.cancel()
            }
        }
        #expect(types.count == 13)
        #expect(types.last == .final)
        #expect(streamer.subscriptionCount == 0)
    }

    /// A sink other than the streamer receives the same events, in seq order.
    @Test func customSinkReceivesEveryEventInOrder() async throws {
        final class Recorder: EventSink {
            let events = LockedArray()
            func deliver(_ event: StreamEvent) { events.append(event) }
        }
        let recorder = Recorder()
        let result = try await Agent4.makeFlow().run(
            Agent4.makeStore(question: "q"),
            namespace: "sales_agent",
            sink: recorder
        )
        let events = recorder.events.all
        expectWellFormedRun(events, terminal: .final)
        #expect(events.count == 13)
        #expect(events.allSatisfy { $0.runId == result.runId })
    }
}

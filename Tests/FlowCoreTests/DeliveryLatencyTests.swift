import FlowCore
import Synchronization
import Testing

/// Events are handed to subscribers in batches, but never held back by a node that emits and then waits.
struct DeliveryLatencyTests {
    /// A gate that suspends callers of ``wait()`` until ``open()``.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Emits `count` events, then waits for the gate before it returns.
    struct EmitThenWait: Node {
        var count: Int
        var gate: Gate

        func exec(_ prep: Void) async throws {
            for i in 0..<count { emit(.progress, ["i": .int(i)]) }
            await gate.wait()
        }
    }

    /// Every event emitted before a node suspends reaches a waiting subscriber while the node is suspended.
    @Test func eventsReachAWaitingSubscriberWhileTheEmittingNodeWaits() async throws {
        try await expectDeliveryWhileSuspended(busyConsumer: false)
    }

    /// The same for a subscriber that is busy while the events are emitted, and only then looks for more.
    @Test func eventsReachABusySubscriberWhileTheEmittingNodeWaits() async throws {
        try await expectDeliveryWhileSuspended(busyConsumer: true)
    }

    private func expectDeliveryWhileSuspended(busyConsumer: Bool) async throws {
        let streamer = EventStreamer()
        let subscription = try streamer.subscribe("latency")
        let gate = Gate()
        let runs = 20
        let perRun = 5
        let flow = {
            var flow = Flow(name: "latency")
            flow.add(EmitThenWait(count: perRun, gate: gate), name: "emitter")
            return flow
        }()

        let received = Task {
            try await withDeadline(.seconds(20), "the events of suspended nodes") {
                var count = 0
                for await event in subscription where event.type == .progress {
                    count += 1
                    // A busy consumer: runs keep emitting (and staging) while it is not looking.
                    if busyConsumer && count % 7 == 0 { try await Task.sleep(for: .milliseconds(2)) }
                    if count == runs * perRun { break }
                }
                return count
            }
        }
        let results = Task {
            try await withThrowingTaskGroup(of: FlowResult.self) { group in
                for _ in 0..<runs {
                    group.addTask { try await flow.run(namespace: "latency", sink: streamer) }
                }
                return try await group.reduce(into: [FlowResult]()) { $0.append($1) }
            }
        }
        // Every run is suspended on the gate, which opens only once all their events have arrived.
        #expect(try await received.value == runs * perRun)
        gate.open()
        let finished = try await results.value
        #expect(finished.count == runs)
        #expect(finished.allSatisfy { $0.eventCount == UInt64(perRun + 1) })
        #expect(subscription.droppedCount == 0)
    }
}

import FlowCore
import Synchronization
import Testing

/// Squares numbers, tracking how many run at once.
struct SquareBatch: BatchNode {
    let inFlight: Gauge

    func prep(_ shared: SharedStore) async throws -> [Int] {
        (shared["numbers"]?.arrayValue ?? []).compactMap(\.intValue)
    }

    func exec(_ item: Int) async throws -> Int {
        inFlight.enter()
        defer { inFlight.leave() }
        await Task.yield()
        return item * item
    }

    func post(_ shared: SharedStore, items: [Int], results: [Int]) async throws -> Action {
        shared["squares"] = .array(results.map { .int($0) })
        return .default
    }
}

/// The same node, its items run concurrently.
struct ParallelSquareBatch: ParallelBatchNode {
    let inFlight: Gauge
    var maxConcurrency: Int

    func prep(_ shared: SharedStore) async throws -> [Int] {
        (shared["numbers"]?.arrayValue ?? []).compactMap(\.intValue)
    }

    func exec(_ item: Int) async throws -> Int {
        inFlight.enter()
        defer { inFlight.leave() }
        // Stay in flight until a sibling is too (or enough time passed), so that concurrency is observable.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(200))
        while inFlight.current < min(2, maxConcurrency), clock.now < deadline { await Task.yield() }
        return item * item
    }

    func post(_ shared: SharedStore, items: [Int], results: [Int]) async throws -> Action {
        shared["squares"] = .array(results.map { .int($0) })
        return .default
    }
}

/// Tracks the current and the highest number of concurrent holders.
final class Gauge: Sendable {
    private let state = Mutex((current: 0, peak: 0))
    func enter() {
        state.withLock {
            $0.current += 1
            $0.peak = max($0.peak, $0.current)
        }
    }
    func leave() { state.withLock { $0.current -= 1 } }
    var current: Int { state.withLock { $0.current } }
    var peak: Int { state.withLock { $0.peak } }
}

struct BatchTests {
    @Test func batchNodeRunsExecPerItemInOrder() async throws {
        let gauge = Gauge()
        let shared = SharedStore(["numbers": [1, 2, 3, 4]])
        _ = try await SquareBatch(inFlight: gauge).visit(shared)
        #expect(shared["squares"] == [1, 4, 9, 16])
        #expect(gauge.peak == 1)
    }

    @Test func parallelBatchNodeRunsItemsConcurrentlyWithinTheLimitAndKeepsOrder() async throws {
        let gauge = Gauge()
        let numbers = (1...24).map { JSONValue.int($0) }
        let shared = SharedStore(["numbers": .array(numbers)])
        _ = try await ParallelSquareBatch(inFlight: gauge, maxConcurrency: 3).visit(shared)
        #expect(shared["squares"] == .array((1...24).map { .int($0 * $0) }))
        #expect(gauge.peak >= 2)
        #expect(gauge.peak <= 3)
    }

    @Test func batchNodeRetriesEachItem() async throws {
        struct Flaky: BatchNode {
            let attempts: Counter
            var maxRetries: Int { 2 }
            func prep(_ shared: SharedStore) async throws -> [Int] { [1, 2, 3] }
            func exec(_ item: Int) async throws -> Int {
                // Every item fails its first attempt.
                if attempts.increment() % 2 == 1 { throw FlakyNode.Flake() }
                return item
            }
            func execFallback(_ item: Int, error: any Error) async throws -> Int { -1 }
            func post(_ shared: SharedStore, items: [Int], results: [Int]) async throws -> Action {
                shared["r"] = .array(results.map { .int($0) })
                return .default
            }
        }
        let attempts = Counter()
        let shared = SharedStore()
        _ = try await Flaky(attempts: attempts).visit(shared)
        #expect(shared["r"] == [1, 2, 3])
        #expect(attempts.count == 6)
    }

    /// Many parallel items increment one counter through `update`: no write is lost.
    @Test func parallelBatchLosesNoWritesToTheSharedStore() async throws {
        struct Count: ParallelBatchNode {
            let shared: SharedStore
            var maxConcurrency: Int { 16 }
            func prep(_ shared: SharedStore) async throws -> [Int] { Array(0..<2000) }
            func exec(_ item: Int) async throws {
                await Task.yield()
                shared.update("counter") { $0 = .int(($0?.intValue ?? 0) + 1) }
            }
        }
        let shared = SharedStore()
        _ = try await Count(shared: shared).visit(shared)
        #expect(shared["counter"] == 2000)
    }

    @Test func batchFlowRunsItsFlowOncePerParameterSet() async throws {
        struct Record: Node {
            func post(_ shared: SharedStore, prep: Void, exec: Void) async throws -> Action {
                let entry = JSONValue.string(
                    "\(params["base"]?.stringValue ?? "-"):\(params["file"]?.stringValue ?? "-")"
                )
                shared.update("seen") { $0 = .array(($0?.arrayValue ?? []) + [entry]) }
                return .default
            }
        }
        var inner = Flow(name: "per_file")
        inner.add(Record())
        let batch = BatchFlow(name: "files", flow: inner) { _ in
            [["file": "a"], ["file": "b"], ["file": "c", "base": "override"]]
        }
        let shared = SharedStore()
        try await batch.run(shared, namespace: "t", params: ["base": "root"], sink: EventStreamer())
        #expect(shared["seen"] == ["root:a", "root:b", "override:c"])
    }

    /// The same node runs in parallel under different parameters; each visit sees only its own.
    @Test func parallelBatchFlowIsolatesEachVisit() async throws {
        struct Echo: Node {
            func prep(_ shared: SharedStore) async throws -> Int { params["i"]?.intValue ?? -1 }
            func exec(_ i: Int) async throws -> Int {
                await Task.yield()
                emit(.progress, ["i": .int(i)])
                await Task.yield()
                return i
            }
            func post(_ shared: SharedStore, prep: Int, exec: Int) async throws -> Action {
                // prep and exec saw the same parameters, and the context still holds them after awaits.
                shared.update("pairs") {
                    $0 = .array(($0?.arrayValue ?? []) + [[.int(prep), .int(exec), params["i"] ?? .null]])
                }
                return .default
            }
        }
        var inner = Flow(name: "echo")
        inner.add(Echo())
        let batch = ParallelBatchFlow(name: "fan_out", flow: inner, maxConcurrency: 8) { _ in
            (0..<50).map { ["i": .int($0)] }
        }
        let streamer = EventStreamer()
        let events = try streamer.subscribe("t")
        let shared = SharedStore()
        let result = try await batch.run(shared, namespace: "t", sink: streamer)
        let pairs = try #require(shared["pairs"]?.arrayValue)
        #expect(pairs.count == 50)
        for pair in pairs { #expect(pair[0] == pair[1] && pair[1] == pair[2]) }
        #expect(Set(pairs.compactMap { $0[0]?.intValue }) == Set(0..<50))

        let collected = try await collect(events, terminals: 1)
        expectWellFormedRun(collected, terminal: .final)
        #expect(result.eventCount == 51)
        #expect(Set(collected.dropLast().compactMap { $0.content["i"]?.intValue }) == Set(0..<50))
        #expect(collected.dropLast().allSatisfy { $0.node == "Echo" })
    }
}

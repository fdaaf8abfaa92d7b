import FlowCore
import Testing

struct NodeTests {
    @Test func lifecyclePassesPrepToExecToPostAndReturnsTheAction() async throws {
        struct Double: Node {
            func prep(_ shared: SharedStore) async throws -> Int { shared["n"]?.intValue ?? 0 }
            func exec(_ n: Int) async throws -> Int { n * 2 }
            func post(_ shared: SharedStore, prep: Int, exec: Int) async throws -> Action {
                shared["n"] = .int(exec)
                return exec > 10 ? "big" : "small"
            }
        }
        let shared = SharedStore(["n": 3])
        #expect(try await Double().visit(shared) == "small")
        #expect(shared["n"] == 6)
        #expect(try await Double().visit(shared) == "big")
        #expect(shared["n"] == 12)
    }

    @Test func retriesExecUntilItSucceeds() async throws {
        let attempts = Counter()
        let node = FlakyNode(attempts: attempts, failures: 2, maxRetries: 3)
        let shared = SharedStore()
        _ = try await node.visit(shared)
        #expect(attempts.count == 3)
        #expect(shared["result"] == 3)
    }

    @Test func fallsBackAfterTheLastAttempt() async throws {
        let attempts = Counter()
        let node = FlakyNode(attempts: attempts, failures: 10, maxRetries: 3, fallbackValue: 7)
        let shared = SharedStore()
        _ = try await node.visit(shared)
        #expect(attempts.count == 3)
        #expect(shared["result"] == -7)
    }

    @Test func rethrowsAfterTheLastAttemptWithoutFallback() async throws {
        let attempts = Counter()
        let node = FlakyNode(attempts: attempts, failures: 10, maxRetries: 2)
        await #expect(throws: FlakyNode.Flake.self) { try await node.visit(SharedStore()) }
        #expect(attempts.count == 2)
    }

    @Test func waitsBetweenAttempts() async throws {
        let attempts = Counter()
        let node = FlakyNode(attempts: attempts, failures: 2, maxRetries: 3, wait: .milliseconds(50))
        let clock = ContinuousClock()
        let elapsed = try await clock.measure { _ = try await node.visit(SharedStore()) }
        #expect(elapsed >= .milliseconds(100))
    }

    @Test func prepAndPostAreNotRetried() async throws {
        struct Node1: Node {
            let preps: Counter
            let attempts: Counter
            func prep(_ shared: SharedStore) async throws -> Int { preps.increment() }
            func exec(_ prep: Int) async throws -> Int {
                if attempts.increment() < 3 { throw FlakyNode.Flake() }
                return prep
            }
            var maxRetries: Int { 5 }
        }
        let preps = Counter()
        let attempts = Counter()
        _ = try await Node1(preps: preps, attempts: attempts).visit(SharedStore())
        #expect(preps.count == 1)
        #expect(attempts.count == 3)
    }

    @Test func nodeNameDefaultsToTheTypeName() {
        struct PlainStep: Node {}
        #expect(PlainStep().name == "PlainStep")
        #expect(Agent4.DecisionNode().name == "decision")
    }

    @Test func paramsComeFromTheRun() async throws {
        struct ParamReader: Node {
            func post(_ shared: SharedStore, prep: Void, exec: Void) async throws -> Action {
                shared["seen"] = params["file"] ?? .null
                return .default
            }
        }
        let shared = SharedStore()
        try await ParamReader().run(shared, namespace: "t", params: ["file": "a.txt"], sink: EventStreamer())
        #expect(shared["seen"] == "a.txt")
        #expect(ParamReader().params.isEmpty)
    }
}

import FlowCore
import Logging
import Testing

struct FlowTests {
    @Test func followsActionsFromTheStartNode() async throws {
        var flow = Flow(name: "branching")
        let a = flow.add(TrailNode(name: "a"))
        let b = flow.add(TrailNode(name: "b"))
        let c = flow.add(TrailNode(name: "c"))
        flow.connect(a, on: "left", to: b)
        flow.connect(a, on: "right", to: c)
        let shared = SharedStore(["next.a": "right"])
        let action = try await flow.visit(shared)
        #expect(shared["trail"] == ["a", "c"])
        #expect(action == .default)
    }

    @Test func startCanBeMoved() async throws {
        var flow = Flow()
        let a = flow.add(TrailNode(name: "a"))
        let b = flow.add(TrailNode(name: "b"))
        flow.connect(a, to: b)
        flow.start(at: b)
        let shared = SharedStore()
        _ = try await flow.visit(shared)
        #expect(shared["trail"] == ["b"])
    }

    @Test func warnsAndEndsWhenAnActionHasNoSuccessor() async throws {
        let logs = LogCapture()
        var flow = Flow(name: "f", logger: logs.logger)
        let a = flow.add(TrailNode(name: "a"))
        let b = flow.add(TrailNode(name: "b"))
        flow.connect(a, on: "go", to: b)
        let shared = SharedStore(["next.a": "oops"])
        let action = try await flow.visit(shared)
        #expect(action == "oops")
        #expect(shared["trail"] == ["a"])
        let warnings = logs.warnings(containing: "no successor")
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["action"] == "oops")
        #expect(warnings.first?.metadata["node"] == "a")
    }

    @Test func aNodeWithoutSuccessorsEndsTheFlowSilently() async throws {
        let logs = LogCapture()
        var flow = Flow(name: "f", logger: logs.logger)
        let a = flow.add(TrailNode(name: "a"))
        let b = flow.add(TrailNode(name: "b"))
        flow.connect(a, to: b)
        _ = try await flow.visit(SharedStore(["next.b": "done"]))
        #expect(logs.entries.filter { $0.level >= .warning }.isEmpty)
    }

    @Test func warnsWhenASuccessorIsReplaced() async throws {
        let logs = LogCapture()
        var flow = Flow(name: "f", logger: logs.logger)
        let a = flow.add(TrailNode(name: "a"))
        let b = flow.add(TrailNode(name: "b"))
        let c = flow.add(TrailNode(name: "c"))
        flow.connect(a, to: b)
        #expect(logs.warnings(containing: "replaced").isEmpty)
        flow.connect(a, to: c)
        #expect(logs.warnings(containing: "replaced").count == 1)
        let shared = SharedStore()
        _ = try await flow.visit(shared)
        #expect(shared["trail"] == ["a", "c"])
    }

    @Test func nestedFlowReturnsItsLastActionSoTheParentCanBranch() async throws {
        var inner = Flow(name: "inner")
        let x = inner.add(TrailNode(name: "x"))
        let y = inner.add(TrailNode(name: "y"))
        inner.connect(x, to: y)

        var outer = Flow(name: "outer")
        let sub = outer.add(inner)
        let approved = outer.add(TrailNode(name: "approved"))
        let rejected = outer.add(TrailNode(name: "rejected"))
        outer.connect(sub, on: "approve", to: approved)
        outer.connect(sub, on: "reject", to: rejected)

        let shared = SharedStore(["next.y": "reject"])
        let action = try await outer.visit(shared)
        #expect(shared["trail"] == ["x", "y", "rejected"])
        #expect(action == .default)

        let shared2 = SharedStore(["next.y": "approve", "next.approved": "shipped"])
        let result = try await outer.run(shared2, namespace: "t", sink: EventStreamer())
        #expect(shared2["trail"] == ["x", "y", "approved"])
        #expect(result.action == "shipped")
    }

    @Test func runReturnsTheValueUnderTheResultKey() async throws {
        var flow = Flow(name: "f", resultKey: "answer")
        flow.add(SetNode(name: "set", key: "answer", value: "42", action: "done"))
        let result = try await flow.run(namespace: "t", runId: "r1", sink: EventStreamer())
        #expect(result.value == "42")
        #expect(result.action == "done")
        #expect(result.runId == "r1")
        #expect(result.namespace == "t")
        #expect(result.eventCount == 1)

        var plain = Flow(name: "plain")
        plain.add(SetNode(name: "set", key: "other", value: 1))
        #expect(try await plain.run(namespace: "t", sink: EventStreamer()).value == .null)
    }

    @Test func emptyFlowThrows() async throws {
        await #expect(throws: FlowError.self) { try await Flow(name: "empty").visit(SharedStore()) }
    }

    @Test func invalidNamespaceOrRunIdThrowsBeforeRunning() async throws {
        var flow = Flow()
        flow.add(FailingNode())
        for namespace in ["", "a/b", "a*", "a b"] {
            let error = await #expect(throws: FlowError.self) {
                try await flow.run(namespace: namespace, sink: EventStreamer())
            }
            #expect(error?.code == .invalidNamespace)
        }
        let error = await #expect(throws: FlowError.self) {
            try await flow.run(namespace: "ok", runId: "x/y", sink: EventStreamer())
        }
        #expect(error?.code == .invalidRunId)
    }

    /// A node visited again and again keeps no state between visits: everything per visit is local.
    @Test func aNodeVisitedInALoopSharesNothingBetweenVisits() async throws {
        struct Step: Node {
            func prep(_ shared: SharedStore) async throws -> Int { shared["n"]?.intValue ?? 0 }
            func exec(_ n: Int) async throws -> [Int] {
                var seen: [Int] = []  // per-visit state lives in locals
                seen.append(n)
                return seen
            }
            func post(_ shared: SharedStore, prep: Int, exec: [Int]) async throws -> Action {
                shared["n"] = .int(prep + 1)
                shared.update("visits") { $0 = .array(($0?.arrayValue ?? []) + [.int(exec.count)]) }
                return prep + 1 < 5 ? "again" : "done"
            }
        }
        var flow = Flow(name: "loop")
        let step = flow.add(Step())
        flow.connect(step, on: "again", to: step)
        let shared = SharedStore()
        let result = try await flow.run(shared, namespace: "t", sink: EventStreamer())
        #expect(shared["n"] == 5)
        #expect(shared["visits"] == [1, 1, 1, 1, 1])
        #expect(result.action == "done")
    }
}

import FlowCore
import Foundation
import Testing

struct SharedStoreTests {
    struct Order: Codable, Equatable {
        var id: Int
        var items: [String]
    }

    @Test func typedValuesRoundTripThroughJSON() throws {
        let store = SharedStore()
        try store.set("order", Order(id: 7, items: ["a", "b"]))
        #expect(store["order"] == ["id": 7, "items": ["a", "b"]])
        #expect(try store.get("order", as: Order.self) == Order(id: 7, items: ["a", "b"]))
        #expect(try store.get("missing", as: Order.self) == nil)
        let error = #expect(throws: FlowError.self) { try store.get("order", as: Int.self) }
        #expect(error?.code == .decodingFailed)
    }

    @Test func snapshotCrossesAProcessBoundaryAsJSON() throws {
        let store = SharedStore(["question": "q", "n": 1])
        store["nested"] = ["a": [1, 2]]
        let data = try JSONEncoder().encode(store)
        let copy = try JSONDecoder().decode(SharedStore.self, from: data)
        #expect(copy.snapshot() == store.snapshot())
        copy.restore(["only": true])
        #expect(copy.keys == ["only"])
        #expect(store["nested"]?["a"]?[1] == 2)
    }

    @Test func updateIsAtomicAcrossConcurrentTasks() async throws {
        let store = SharedStore()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<1000 {
                        store.update("n") { $0 = .int(($0?.intValue ?? 0) + 1) }
                    }
                }
            }
        }
        #expect(store["n"] == 8000)
    }

    @Test func subscriptAssignsAndRemoves() {
        let store = SharedStore()
        store["a"] = 1
        #expect(store["a"] == 1)
        store["a"] = nil
        #expect(store["a"] == nil)
        store["b"] = "x"
        #expect(store.removeValue(forKey: "b") == "x")
        #expect(store.keys.isEmpty)
    }
}

import FlowCore
import Testing

/// The README's quick start, compiled and run, so the front page cannot drift from the API.
struct ReadmeExampleTests {
    struct Greet: Node {
        func prep(_ shared: SharedStore) async throws -> String { shared["who"]?.stringValue ?? "world" }
        func exec(_ who: String) async throws -> String {
            emit(.progress, ["status": "greeting"])
            return "hello, \(who)"
        }
        func post(_ shared: SharedStore, prep: String, exec: String) async throws -> Action {
            shared["result"] = .string(exec)
            return .default
        }
    }

    @Test func quickStartRunsAsWritten() async throws {
        var flow = Flow(name: "greeter")
        flow.add(Greet())
        let streamer = EventStreamer()
        let live = try streamer.subscribe("greeter")
        let result = try await flow.run(SharedStore(["who": "Ada"]), namespace: "greeter", sink: streamer)
        #expect(result.value == "hello, Ada")

        var seen: [(UInt64, EventType)] = []
        for await event in live {
            seen.append((event.seq, event.type))
            if event.type.isTerminal { break }
        }
        #expect(seen.map(\.0) == [1, 2])
        #expect(seen.map(\.1) == [.progress, .final])
    }
}

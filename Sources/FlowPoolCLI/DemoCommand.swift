import ArgumentParser
import FlowCore

/// `flowpool demo`: two namespaced agents run at once in this process, their events streamed live.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run sales_agent and stock_agent at once in process and stream their events."
    )

    @Option(help: "The question for sales_agent.")
    var salesQuestion = "Which product sold best last quarter?"

    @Option(help: "The question for stock_agent.")
    var stockQuestion = "How many widgets are left in stock?"

    func run() async throws {
        let questions = [("sales_agent", salesQuestion), ("stock_agent", stockQuestion)]
        try await Task.detached {
            try await Self.demo(questions)
        }.value
    }

    private static func demo(_ questions: [(namespace: String, question: String)]) async throws {
        let streamer = EventStreamer()
        let subscriptions = try questions.map { try streamer.subscribe($0.namespace) }
        let flow = Agent4.makeFlow()
        let width = questions.map(\.namespace.count).max() ?? 0

        let results = try await withThrowingTaskGroup(of: (String, FlowResult?).self) { group in
            for subscription in subscriptions {
                group.addTask {
                    for await event in subscription {
                        let label = event.namespace.padding(width)
                        print("[\(label)] #\(event.seq) \(event.node) \(event.type) \(event.content)")
                        if event.type.isTerminal { break }
                    }
                    return ("", nil)
                }
            }
            for (namespace, question) in questions {
                group.addTask {
                    let store = SharedStore(["question": .string(question)])
                    return (namespace, try await flow.run(store, namespace: namespace, sink: streamer))
                }
            }
            var results: [String: FlowResult] = [:]
            for try await case (let namespace, let result?) in group { results[namespace] = result }
            return results
        }

        print("")
        for (namespace, _) in questions {
            guard let result = results[namespace] else { continue }
            print(
                "\(namespace.padding(width)) answer: \(result.value) (run \(result.runId), \(result.eventCount) events)"
            )
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - count))
    }
}

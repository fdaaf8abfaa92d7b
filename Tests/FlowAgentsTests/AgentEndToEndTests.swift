import FlowAgents
import FlowCore
import Foundation
import Testing

@Suite struct AgentEndToEndTests {
    private func ask(_ agent: AgentDescriptor, _ question: String) async throws -> (String, RecordingSink) {
        let sink = RecordingSink()
        let flow = agent.makeFlow(provider: OfflineProvider())
        let result = try await flow.run(try agent.makeStore(question: question), namespace: agent.defaultNamespace, sink: sink)
        return (AgentDescriptor.answer(from: result) ?? "", sink)
    }

    @Test func salesTotalForRegionAndMonth() async throws {
        let (answer, sink) = try await ask(SalesAgent.descriptor, "What were total sales in the North region in March 2024?")
        let expected = ReferenceData.revenueCents { $0.region == "North" && $0.date.hasPrefix("2024-03") }
        print(answer)
        #expect(answer.contains(ReferenceData.money(cents: expected)))
        #expect(sink.types.last == "final")
    }
}

import FlowCore
import Testing

struct SubscriptionPatternTests {
    @Test func parsesTheFourForms() throws {
        #expect(try SubscriptionPattern("*").kind == .all)
        #expect(try SubscriptionPattern("sales_agent").kind == .namespace("sales_agent"))
        #expect(try SubscriptionPattern("sales_agent/r1").kind == .run(namespace: "sales_agent", runId: "r1"))
        #expect(try SubscriptionPattern("sales_*").kind == .prefix("sales_"))
        for text in ["*", "sales_agent", "sales_agent/r1", "sales_*"] {
            #expect(try SubscriptionPattern(text).description == text)
        }
    }

    @Test(arguments: ["", "a//b", "/a", "a/", "a/b/c", "a*b", "**", "*a", "a b", "sales\nagent"])
    func rejectsInvalidPatterns(_ text: String) throws {
        let error = #expect(throws: FlowError.self) { try SubscriptionPattern(text) }
        #expect(error?.code == .invalidPattern)
        #expect(error?.message.contains("Use `*`") == true)
    }

    @Test func namespaceMatchesWholeSegmentsOnly() throws {
        let pattern = try SubscriptionPattern("sales_agent")
        #expect(pattern.matches(namespace: "sales_agent", runId: "r", type: .final))
        #expect(!pattern.matches(namespace: "sales_agent2", runId: "r", type: .final))
        #expect(pattern.matches(topic: "sales_agent/r/final"))
        #expect(!pattern.matches(topic: "sales_agent2/r/final"))
        #expect(pattern.topicPrefix == "sales_agent/")
    }

    @Test func runAndPrefixPatterns() throws {
        let run = try SubscriptionPattern("sales_agent/r1")
        #expect(run.matches(namespace: "sales_agent", runId: "r1", type: .chunk))
        #expect(!run.matches(namespace: "sales_agent", runId: "r10", type: .chunk))
        #expect(run.topicPrefix == "sales_agent/r1/")

        let prefix = try SubscriptionPattern("sales_*")
        #expect(prefix.matches(namespace: "sales_agent", runId: "r", type: .chunk))
        #expect(prefix.matches(namespace: "sales_agent2", runId: "r", type: .chunk))
        #expect(!prefix.matches(namespace: "stock_agent", runId: "r", type: .chunk))

        let typed = try SubscriptionPattern("sales_agent/r1/fi*")
        #expect(typed.matches(namespace: "sales_agent", runId: "r1", type: .final))
        #expect(!typed.matches(namespace: "sales_agent", runId: "r1", type: .chunk))
    }
}

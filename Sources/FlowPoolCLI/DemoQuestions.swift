import FlowAgents
import FlowPoolWorker

/// One question for one agent.
struct DemoQuestion: Sendable {
    var agent: String
    var text: String
}

/// The built-in questions: ones the offline model answers from the shipped data.
enum DemoQuestions {
    static let sales = [
        "What were total sales in the North region in March 2024?",
        "What were the top 3 products by units sold in 2024?",
        "Which region had the highest sales in 2024?",
        "Compare sales in the East and West regions in Q1 2025",
    ]
    static let stock = [
        "What is the last price of AAPL?",
        "How did NVDA perform over the last 30 days?",
        "Compare TSLA and META over the last 90 days",
        "What's the 50-day moving average of MSFT?",
    ]

    /// The most built-in questions per agent.
    static var perAgentLimit: Int { min(sales.count, stock.count) }

    /// `perAgent` questions for each agent, alternating agents.
    static func builtIn(perAgent: Int) -> [DemoQuestion] {
        (0..<perAgent).flatMap { i in
            [
                DemoQuestion(agent: SalesAgent.name, text: sales[i]),
                DemoQuestion(agent: StockAgent.name, text: stock[i]),
            ]
        }
    }
}

import ArgumentParser
import FlowAgents
import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import UnixSignals

/// `flowpool demo`: a local pool in child processes, both agents at once, their events live, the answers.
///
/// Starts a coordinator and `--workers` workers as child processes (this same executable) on loopback with
/// free ports, waits until the workers are alive, subscribes to `sales_agent` and `stock_agent`, submits
/// every question at once, prints both namespaces' events as they arrive and then each answer with its
/// question, and stops the pool (SIGTERM, then SIGKILL after a grace period). Ctrl-C or any failure stops
/// the pool the same way; no child outlives the command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a local pool, run sales_agent and stock_agent questions at once, stream their events.",
        discussion: """
            Needs no keys and no network: the agents use the offline model unless the environment selects \
            another (see FLOWPOOL_LLM). Exit status: 0 when every run completed and the pool stopped cleanly, \
            1 on any failure, 130 when interrupted.
            """
    )

    @Option(help: "Worker processes to start.")
    var workers = 2

    @Option(help: "Built-in questions per agent (1…\(DemoQuestions.perAgentLimit)).")
    var questions = 3

    @Option(
        name: .customLong("question"),
        help: "Your own question as 'AGENT: TEXT', e.g. 'stock_agent: Last price of AAPL?' (repeatable; replaces the built-in ones)."
    )
    var customQuestions: [String] = []

    @Flag(help: "Plain labels even on a terminal.")
    var noColor = false

    @Option(help: "Seconds the runs may take once the pool is ready.")
    var timeout: Double = 60

    @Option(help: "Milliseconds the offline model waits before each streamed word.")
    var tokenDelayMs = 15

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be 1…16") }
        guard (1...DemoQuestions.perAgentLimit).contains(questions) else {
            throw ValidationError("--questions must be 1…\(DemoQuestions.perAgentLimit)")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard (0...1000).contains(tokenDelayMs) else { throw ValidationError("--token-delay-ms must be 0…1000") }
        _ = try plannedQuestions()
    }

    /// The questions to submit: the custom ones, else the built-in ones.
    func plannedQuestions() throws -> [DemoQuestion] {
        guard !customQuestions.isEmpty else { return DemoQuestions.builtIn(perAgent: questions) }
        return try customQuestions.map { text in
            guard let colon = text.firstIndex(of: ":") else {
                throw ValidationError("--question must be 'AGENT: TEXT' (AGENT is sales_agent or stock_agent)")
            }
            let agent = text[..<colon].trimmingCharacters(in: .whitespaces)
            let question = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard Agents.all.contains(where: { $0.name == agent }) else {
                throw ValidationError("unknown agent '\(agent)' in --question; use sales_agent or stock_agent")
            }
            guard !question.isEmpty else { throw ValidationError("--question '\(text)' has no question") }
            return DemoQuestion(agent: agent, text: question)
        }
    }

    func run() async throws {
        let session = DemoSession(
            questions: try plannedQuestions(),
            workers: workers,
            printer: EventPrinter(colored: EventPrinter.wantsColor(refused: noColor)),
            runTimeout: .milliseconds(Int(timeout * 1000)),
            tokenDelayMs: tokenDelayMs,
            logLevel: log.logLevel,
            logger: log.makeLogger("flowpool.demo")
        )
        // Off the main actor: the session awaits a lot, and flows of events should not hop to it.
        let outcome = await Task.detached { await session.run() }.value
        switch outcome {
        case .success: return
        case .failure(let message):
            printError("flowpool demo: \(message)")
            throw ExitCode.failure
        case .interrupted(let signal):
            printError("flowpool demo: interrupted by \(signal); the pool was stopped")
            throw ExitCode(130)
        }
    }
}

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
            [DemoQuestion(agent: SalesAgent.name, text: sales[i]), DemoQuestion(agent: StockAgent.name, text: stock[i])]
        }
    }
}

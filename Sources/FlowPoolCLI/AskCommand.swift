import ArgumentParser
import FlowAgents
import FlowCore
import FlowPoolWorker

/// `flowpool ask AGENT "question"`: one question answered in this process, its events printed live.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask an agent one question in this process (no pool): live events, then the answer.",
        discussion: """
            AGENT is sales_agent or stock_agent. The model is the offline one unless the environment selects \
            another (FLOWPOOL_LLM, OPENAI_API_KEY, OPENAI_BASE_URL).
            """
    )

    @Argument(help: "The agent: sales_agent or stock_agent.")
    var agent: String

    @Argument(help: "The question.")
    var question: String

    @Option(help: "The namespace of the run's events (default: the agent's name).")
    var namespace: String?

    @Flag(help: "Plain labels even on a terminal.")
    var noColor = false

    @Flag(help: "Print only the answer.")
    var quiet = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard Agents.all.contains(where: { $0.name == agent }) else {
            throw ValidationError(
                "unknown agent '\(agent)'; known: \(Agents.all.map(\.name).joined(separator: ", "))"
            )
        }
        guard !question.allSatisfy(\.isWhitespace) else { throw ValidationError("the question is empty") }
    }

    func run() async throws {
        let logger = log.makeLogger("flowpool.ask")
        let descriptor = try Agents.named(agent)
        let provider = try AgentRegistration.provider(logger: logger)
        let printer = EventPrinter(colored: EventPrinter.wantsColor(refused: noColor))
        let question = self.question
        let namespace = self.namespace
        let quiet = self.quiet
        // Off the main actor: every event would otherwise hop to it.
        let result = try await Task.detached {
            try await descriptor.ask(question, provider: provider, namespace: namespace) { event in
                if !quiet { printer.print(event) }
            }
        }.value
        guard let answer = AgentDescriptor.answer(from: result) else {
            printError("flowpool ask: the run ended without an answer: \(result.value)")
            throw ExitCode.failure
        }
        if !quiet { printFlushed("") }
        printFlushed(answer)
    }
}

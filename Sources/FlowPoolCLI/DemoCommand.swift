import ArgumentParser
import FlowAgents
import FlowCore
import FlowPool
import FlowPoolWorker
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
            another (see FLOWPOOL_LLM). Also starts the web view (`flowpool web`) and prints its address; once \
            every answer is in, the pool and the view stay open until Ctrl-C (--no-web: the demo stops then). \
            Exit status: 0 when every run completed and the pool stopped cleanly (with the web view: also after \
            Ctrl-C once the answers are in), 1 on any failure, 128 + the signal number when interrupted before \
            (130 for Ctrl-C).
            """
    )

    @Option(help: "Worker processes to start.")
    var workers = 2

    @Option(help: "Built-in questions per agent (1…\(DemoQuestions.perAgentLimit)).")
    var questions = 3

    @Option(
        name: .customLong("question"),
        help:
            "Your own question as 'AGENT: TEXT', e.g. 'stock_agent: Last price of AAPL?' (repeatable; replaces the built-in ones)."
    )
    var customQuestions: [String] = []

    @Flag(help: "Plain labels even on a terminal.")
    var noColor = false

    @Option(help: "Seconds the runs may take once the pool is ready.")
    var timeout: Double = 60

    @Option(help: "Milliseconds the offline model waits before each streamed word.")
    var tokenDelayMs = 15

    @Flag(help: "Run the pool with CURVE keys on every socket (a key set made for the demo, removed at its end).")
    var curve = false

    @Option(help: "Port of the web view the demo starts (0: a free one; a free one too when this one is taken).")
    var webPort = 8080

    @Flag(help: "No web view: stop the pool and exit once every answer is in.")
    var noWeb = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be 1…16") }
        guard (1...DemoQuestions.perAgentLimit).contains(questions) else {
            throw ValidationError("--questions must be 1…\(DemoQuestions.perAgentLimit)")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard (0...1000).contains(tokenDelayMs) else { throw ValidationError("--token-delay-ms must be 0…1000") }
        guard (0...65_535).contains(webPort) else { throw ValidationError("--web-port must be 0…65535") }
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
        do {
            _ = try AgentRegistration.provider()
        } catch {
            printError("flowpool demo: the agents' model is misconfigured: \(error)")
            throw ExitCode.failure
        }
        let session = DemoSession(
            questions: try plannedQuestions(),
            workers: workers,
            printer: EventPrinter(colored: EventPrinter.wantsColor(refused: noColor)),
            runTimeout: .milliseconds(Int(timeout * 1000)),
            tokenDelayMs: tokenDelayMs,
            logLevel: log.logLevel,
            curve: curve,
            webPort: noWeb ? nil : webPort,
            logger: log.makeLogger("flowpool.demo")
        )
        // Off the main actor: the session awaits a lot, and flows of events should not hop to it.
        let outcome = await Task.detached { await session.run() }.value
        switch outcome {
        case .success: return
        case .failure(let message):
            printError("flowpool demo: \(message)")
            throw ExitCode.failure
        case .interrupted(let signal, let number):
            printError("flowpool demo: interrupted by \(signal); the pool was stopped")
            throw ExitCode(128 + number)
        }
    }
}

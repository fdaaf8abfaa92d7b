import ArgumentParser
import FlowPoolWorker
import FlowPoolWorkloads
import Synchronization

/// The `flowpool` command: every role of the pool, one executable.
@main
struct FlowPoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowpool",
        abstract: "Run and watch AI agent flows at scale over a ZeroMQ worker pool.",
        discussion: """
            With FLOWPOOL_CHECK_ARGUMENTS=1 the command only parses and validates its arguments (and the \
            environment variables it reads) and exits: 0 when they are accepted, with the usual error otherwise. \
            The deploy files' command lines are checked this way.
            """,
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, SubscribeCommand.self, SubmitCommand.self,
            StatusCommand.self, CancelCommand.self, DemoCommand.self, AskCommand.self, BenchCommand.self,
            KeysCommand.self, WebCommand.self,
        ]
    )

    static func main() async {
        // The flows of this executable's workers: the shipped agents and the benchmark and diagnostic workloads.
        WorkerCommand.registration.withLock {
            $0 = { registry in
                AgentRegistration.register(in: registry)
                Workloads.register(in: registry)
            }
        }
        do {
            var command = try parseAsRoot()
            if Environment.string("FLOWPOOL_CHECK_ARGUMENTS") == "1" {
                printFlushed("arguments accepted: \(type(of: command).configuration.commandName ?? "flowpool")")
                return
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

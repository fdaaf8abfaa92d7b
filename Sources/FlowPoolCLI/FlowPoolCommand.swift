import ArgumentParser

/// The `flowpool` command: every role of the pool, one executable.
@main
struct FlowPoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowpool",
        abstract: "Run and watch AI agent flows at scale over a ZeroMQ worker pool.",
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, SubscribeCommand.self, SubmitCommand.self,
            StatusCommand.self, CancelCommand.self, DemoCommand.self, AskCommand.self, BenchCommand.self,
        ]
    )
}

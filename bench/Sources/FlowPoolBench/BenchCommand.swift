import ArgumentParser

/// `flowpool-bench`: the load-test and micro-benchmark harness.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowpool-bench",
        abstract: "Benchmarks of FlowPool: in process, the ZeroMQ binding, and the pool.",
        subcommands: [LoadCommand.self, InProcessBench.self, ZeroMQBench.self, PoolBench.self, JournalStoreBench.self]
    )
}

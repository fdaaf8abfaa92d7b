import ArgumentParser

/// `flowpool-bench pool`: a preset of ``LoadCommand``, the closed loop the pool's first figures were taken with.
struct PoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "agent4 through a local pool with 2,000 runs in flight, per worker count (a preset of `load`).",
        discussion: """
            Runs `flowpool-bench load --scaling W --runs N --in-flight WINDOW --concurrency C --subscribers 1 \
            --baseline-messages 0 --coordinator-arg=--max-queue=Q` (Q is the larger of 10,000 and twice the \
            window), and prints the same tables and verdict. Arguments after `--` go to `load` as they are, \
            e.g. `flowpool-bench pool -- --json-out pool.json`.
            """
    )

    @Option(help: "Worker counts to measure, comma-separated.")
    var workers = "1,2"

    @Option(help: "Runs per measurement.")
    var runs = 50_000

    @Option(help: "Runs outstanding at once (submitted, result not yet back).")
    var window = 2000

    @Option(help: "Concurrency of each worker.")
    var concurrency = 64

    @Option(help: "Namespace of the runs.")
    var namespace = "sales_agent"

    @Option(help: "The flowpool executable (default: next to this one).")
    var flowpool: String?

    @Argument(parsing: .postTerminator, help: "Further arguments for `load`.")
    var loadArguments: [String] = []

    func validate() throws {
        guard runs > 0, window > 0, concurrency > 0 else { throw ValidationError("counts must be positive") }
        guard LoadCommand.workerCounts(workers) != nil else {
            throw ValidationError("--workers takes counts like 1,2")
        }
    }

    /// The `load` command line this preset stands for.
    var arguments: [String] {
        [
            "--scaling", workers, "--runs", "\(runs)", "--in-flight", "\(window)", "--concurrency", "\(concurrency)",
            "--namespace", namespace, "--subscribers", "1", "--baseline-messages", "0",
            "--coordinator-arg=--max-queue=\(max(10_000, window * 2))",
        ] + (flowpool.map { ["--flowpool", $0] } ?? []) + loadArguments
    }

    func run() async throws {
        let load = try LoadCommand.parse(arguments)
        try await load.run()
    }
}

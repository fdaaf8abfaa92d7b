import ArgumentParser
import FlowPool
import FlowPoolWorker

/// `flowpool cancel`: ends a run `cancelled`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a run: a queued run is removed, a running one is stopped on its worker.",
        discussion: """
            The run ends with one `cancelled` event and a result whose status is cancelled.
            Exit status: 0 when the run was cancelled, 1 when it had already finished (its result stands), 2 when \
            no such run is known.
            """
    )

    @Argument(help: "The run id.")
    var run: String

    @Option(help: "The run's namespace.")
    var namespace: String

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.makeLogger("flowpool.cancel")
        let pool = try await PoolClient.connect(
            to: connection.coordinator,
            timeout: connection.timeoutDuration,
            keys: try keys.load(logger: logger),
            logger: logger
        )
        let status: Int32
        do {
            let was = try await pool.cancel(namespace: namespace, runId: run)
            printFlushed("cancelled \(namespace)/\(run) (it was \(was))")
            status = 0
        } catch let error as PoolError where error.remoteCode == .alreadyFinished {
            printError(error.message)
            status = 1
        } catch let error as PoolError where error.remoteCode == .notFound {
            printError(error.message)
            status = 2
        }
        await pool.close()
        if status != 0 { throw ExitCode(status) }
    }
}

import ArgumentParser
import FlowPool
import FlowPoolWeb
import FlowPoolWorker
import Logging
import ProcessSupervision

/// `flowpool web`: the pool's live web view, in a process of its own.
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "Serve a live web view of the pool: workers and rates, namespaces and runs as they happen.",
        discussion: """
            A client and subscriber of the pool like any other, in its own process: pages follow the pool through \
            server-sent events, coalesced to at most four messages a second each. Pages can submit and cancel \
            runs (not with --read-only). Listens on 127.0.0.1 unless --host says otherwise; anyone who can reach \
            the address can use the pool with this view's key. Prints "web view at http://HOST:PORT/" once it \
            listens; SIGINT or SIGTERM stops it.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (printed).")
    var port = 8080

    @Flag(help: "Show the pool without the submit and cancel actions.")
    var readOnly = false

    @Option(
        help: """
            Events a second above which a namespace is sampled (its newest 100 runs polled twice a second) rather \
            than followed event by event.
            """
    )
    var liveEventsPerSecond = 20_000

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
        guard liveEventsPerSecond > 0 else { throw ValidationError("--live-events-per-second must be positive") }
    }

    func run() async throws {
        // Started by `flowpool demo`: stop when that parent dies.
        try ParentDeathSignal.armFromEnvironment()
        let logger = log.makeLogger("flowpool.web")
        let view = WebView(
            configuration: WebViewConfiguration(
                coordinator: connection.coordinator,
                keys: try keys.load(logger: logger),
                host: host,
                port: port,
                requestTimeout: connection.timeoutDuration,
                readOnly: readOnly,
                liveEventsPerSecond: liveEventsPerSecond
            ),
            logger: logger
        )
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            logger.warning(
                "listening on \(host): anyone who reaches it sees the pool\(readOnly ? "" : " and can submit and cancel runs")"
            )
        }
        do {
            try await view.run { host, port in
                let shown = host.contains(":") ? "[\(host)]" : host
                printFlushed("web view at http://\(shown):\(port)/")
            }
        } catch {
            printError("flowpool web: \(error)")
            throw ExitCode.failure
        }
    }
}

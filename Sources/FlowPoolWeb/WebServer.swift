import FlowCore
import FlowPool
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// How `flowpool web` runs.
public struct WebViewConfiguration: Sendable {
    /// The coordinator's control endpoint (`host`, `host:port`, `tcp://host:port`).
    public var coordinator: String
    /// This web view's keys, for a pool with keys (a client key: it submits, cancels, replays and subscribes).
    public var keys: PoolKeys?
    /// The address to listen on; 127.0.0.1 unless told otherwise (the pages can submit and cancel runs).
    public var host: String
    /// The port; 0 picks a free one (reported to `onListening`).
    public var port: Int
    /// How long to wait for the coordinator's replies.
    public var requestTimeout: Duration
    /// Pages show the pool but cannot submit or cancel runs.
    public var readOnly: Bool
    /// Events a second above which a namespace is no longer followed event by event but sampled, by polling its
    /// newest runs (the view then costs the pool and itself next to nothing, however busy the namespace).
    public var liveEventsPerSecond: Int

    public init(
        coordinator: String,
        keys: PoolKeys? = nil,
        host: String = "127.0.0.1",
        port: Int = 8080,
        requestTimeout: Duration = .seconds(10),
        readOnly: Bool = false,
        liveEventsPerSecond: Int = 20_000
    ) {
        self.coordinator = coordinator
        self.keys = keys
        self.host = host
        self.port = port
        self.requestTimeout = requestTimeout
        self.readOnly = readOnly
        self.liveEventsPerSecond = liveEventsPerSecond
    }
}

/// The pool's live web view: an HTTP server (Hummingbird) whose pages follow the pool through server-sent events.
///
/// It is a client and subscriber of the pool like any other, in its own process: the coordinator pays for it one
/// status request a second and one subscription per followed namespace or run (for a namespace above the live
/// limit, a `replay` of its newest runs twice a second instead), whatever number of pages is open.
/// Pages are sent coalesced state, at most four messages a second each, never a queue of events: a slow or closed
/// browser holds nothing in the pool and at most one message in the web view. Everything a page needs is served
/// by the binary (docs/WEB.md).
public struct WebView: Sendable {
    public let configuration: WebViewConfiguration
    let logger: Logger

    /// How often a live page is sent what changed.
    static let updateInterval = Duration.milliseconds(250)
    /// How long a page opened on a namespace or run that was not followed yet waits for its history.
    static let historyWait = Duration.seconds(5)
    /// How often an idle live page is sent a comment line, so that a closed browser is noticed.
    static let keepAliveInterval = Duration.seconds(10)

    public init(configuration: WebViewConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until a SIGTERM or SIGINT (or cancellation); `onListening` gets the address once it is bound.
    public func run(onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void) async throws {
        let link = PoolLink(
            coordinator: configuration.coordinator,
            keys: configuration.keys,
            timeout: configuration.requestTimeout,
            liveEventsPerSecond: configuration.liveEventsPerSecond,
            logger: logger
        )
        let router = Router()
        routes(router, link: link)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "flowpool-web"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                await onListening(configuration.host, port)
            },
            logger: logger
        )
        let group = ServiceGroup(
            services: [app, StatusPoller(link: link)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        do {
            try await group.run()
        } catch {
            await link.close()
            throw error
        }
        await link.close()
    }

    // MARK: Routes

    private func routes(_ router: Router<BasicRequestContext>, link: PoolLink) {
        router.get("/") { _, _ in Page.html(.overview) }
        router.get("/ns/:ns") { _, context in
            Page.html(.namespace(try Self.name(context, "ns", namespace: true)))
        }
        router.get("/runs/:ns/:run") { _, context in
            Page.html(
                .run(try Self.name(context, "ns", namespace: true), try Self.name(context, "run", namespace: false))
            )
        }
        router.get("/assets/app.js") { _, _ in Page.asset(Assets.appJS, type: "text/javascript; charset=utf-8") }
        router.get("/assets/app.css") { _, _ in Page.asset(Assets.appCSS, type: "text/css; charset=utf-8") }

        router.get("/api/overview/stream") { _, _ in
            Self.stream(stopping: link.isStopping, open: { (nil, ()) }, close: {}) { _, state in
                let (message, version) = link.overview.current
                guard version != state.version else { return [] }
                state.version = version
                return [("overview", message)]
            }
        }
        router.get("/api/ns/:ns/stream") { _, context in
            let namespace = try Self.name(context, "ns", namespace: true)
            let model = try Self.refusing { () throws(WebError) in try link.acquireNamespace(namespace) }
            return Self.stream(
                stopping: link.isStopping,
                isReady: { model.isReady },
                open: {
                    let (snapshot, start) = model.snapshot()
                    guard case .object(var message) = snapshot else { return (nil, start) }
                    message["flows"] = .array(link.overview.flows.map(JSONValue.string))
                    return (("snapshot", .object(message)), start)
                },
                close: { link.releaseNamespace(namespace) }
            ) { cursor, state in
                guard let (event, update, next) = model.update(after: cursor) else {
                    return Self.flowsChanged(link, &state)
                }
                cursor = next
                guard case .object(var message) = update else { return [] }
                if event == "snapshot" {
                    message["flows"] = .array(link.overview.flows.map(JSONValue.string))
                } else if case let flows? = Self.flowsChanged(link, &state).first?.data["flows"] {
                    message["flows"] = flows
                }
                return [(event, .object(message))]
            }
        }
        router.get("/api/runs/:ns/:run/stream") { _, context in
            let namespace = try Self.name(context, "ns", namespace: true)
            let runId = try Self.name(context, "run", namespace: false)
            let model = try Self.refusing { () throws(WebError) in
                try link.acquireRun(namespace: namespace, runId: runId)
            }
            return Self.stream(
                stopping: link.isStopping,
                isReady: { model.isReady },
                open: {
                    let (snapshot, start) = model.snapshot()
                    return (("snapshot", snapshot), start)
                },
                close: { link.releaseRun(namespace: namespace, runId: runId) }
            ) { cursor, _ in
                let (messages, next) = model.update(after: cursor)
                cursor = next
                return messages
            }
        }
        router.post("/api/runs") { request, _ in
            try await Self.answering {
                try Self.checkWrite(request, readOnly: configuration.readOnly)
                let body = try await Self.jsonBody(request)
                guard let flow = body["flow"]?.stringValue, !flow.isEmpty else {
                    throw WebError(.badRequest, "bad_request", "give the flow to run (\"flow\")")
                }
                guard let namespace = body["ns"]?.stringValue else {
                    throw WebError(.badRequest, "bad_request", "give the namespace (\"ns\")")
                }
                if let problem = PoolNames.problem(namespace: namespace) {
                    throw WebError(.badRequest, "bad_request", problem)
                }
                var runId: String?
                if let run = body["run"]?.stringValue, !run.isEmpty {
                    if let problem = PoolNames.problem(runId: run) {
                        throw WebError(.badRequest, "bad_request", problem)
                    }
                    runId = run
                }
                let input = body["input"] ?? .object([:])
                do {
                    let pool = try await link.pool()
                    let submission = try await pool.submit(
                        flow,
                        namespace: namespace,
                        input: input,
                        runId: runId,
                        wantResult: false
                    )
                    link.overview.noteNamespace(namespace)
                    return .object([
                        "ns": .string(submission.namespace), "run": .string(submission.runId),
                        "job": .string(submission.job), "existing": .bool(submission.existing),
                    ])
                } catch {
                    throw WebError(error)
                }
            }
        }
        router.post("/api/runs/:ns/:run/cancel") { request, context in
            try await Self.answering {
                try Self.checkWrite(request, readOnly: configuration.readOnly)
                let namespace = try Self.name(context, "ns", namespace: true)
                let runId = try Self.name(context, "run", namespace: false)
                do {
                    let was = try await link.pool().cancel(namespace: namespace, runId: runId)
                    return .object(["was": .string(was)])
                } catch {
                    throw WebError(error)
                }
            }
        }
    }

    // MARK: Requests

    /// A path parameter, checked as a namespace or run id.
    private static func name(_ context: BasicRequestContext, _ key: String, namespace: Bool) throws -> String {
        guard let raw = context.parameters.get(key) else {
            throw HTTPError(.badRequest, message: "missing \(key)")
        }
        let name = raw.removingPercentEncoding ?? raw
        if let problem = namespace ? PoolNames.problem(namespace: name) : PoolNames.problem(runId: name) {
            throw HTTPError(.badRequest, message: problem)
        }
        return name
    }

    /// Refuses a write that a browser could have been tricked into sending from another site (a page elsewhere
    /// can post a form to 127.0.0.1, but not with a JSON content type or its own `Origin`), or any write when
    /// the view is read-only.
    private static func checkWrite(_ request: Request, readOnly: Bool) throws(WebError) {
        if readOnly {
            throw WebError(.forbidden, "read_only", "this web view is read-only (started with --read-only)")
        }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw WebError(.unsupportedMediaType, "bad_request", "send the request as application/json")
        }
        if let origin = request.headers[.origin], let host = request.head.authority,
            origin != "http://" + host
        {
            throw WebError(
                .forbidden,
                "cross_origin",
                "requests from \(origin) are not accepted; use this view's own pages"
            )
        }
    }

    /// The request's body as a JSON object (at most 1 MiB).
    private static func jsonBody(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            throw WebError(.contentTooLarge, "bad_request", "the request body is larger than 1 MiB")
        }
        let value: JSONValue
        do {
            value = try JSONValue(wireBytes: buffer.readableBytesView)
        } catch {
            throw WebError(.badRequest, "bad_json", "the request body is not valid JSON: \(error)")
        }
        guard case .object = value else {
            throw WebError(.badRequest, "bad_request", "the request body must be a JSON object")
        }
        return value
    }

    /// Runs `body` and answers its JSON, or the ``WebError`` it threw as `{"error", "message"}`.
    private static func answering(_ body: () async throws -> JSONValue) async throws -> Response {
        do {
            return Page.json(try await body(), status: .ok)
        } catch let error as WebError {
            return Page.json(error.json, status: error.status)
        }
    }

    private static func refusing<T>(_ body: () throws(WebError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw HTTPError(error.status, message: error.message)
        }
    }

    // MARK: Server-sent events

    /// What a live page's loop keeps between ticks.
    struct StreamState: Sendable {
        var version: UInt64 = 0
        var flows: [String] = []
    }

    private static func flowsChanged(_ link: PoolLink, _ state: inout StreamState) -> [(event: String, data: JSONValue)]
    {
        let flows = link.overview.flows
        guard flows != state.flows else { return [] }
        state.flows = flows
        return [
            ("update", .object(["runs": [], "feed": [], "skipped": 0, "flows": .array(flows.map(JSONValue.string))]))
        ]
    }

    /// A `text/event-stream` response: the `open` message, then every ``updateInterval`` what `next` gives, until
    /// the browser goes away or the server shuts down; `close` runs either way.
    ///
    /// Each write waits for the browser to take it; meanwhile nothing accumulates (the next tick asks the model for
    /// what changed since the last message sent), so a slow browser gets fewer, larger messages.
    private static func stream<Cursor: Sendable>(
        stopping: @escaping @Sendable () -> Bool,
        isReady: @escaping @Sendable () -> Bool = { true },
        open: @escaping @Sendable () -> (first: (event: String, data: JSONValue)?, cursor: Cursor),
        close: @escaping @Sendable () -> Void,
        next: @escaping @Sendable (inout Cursor, inout StreamState) -> [(event: String, data: JSONValue)]
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                defer { close() }
                var state = StreamState()
                let clock = ContinuousClock()
                var lastWrite = clock.now
                // Tells EventSource to reconnect after 1 s when the connection breaks.
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                // A page opened on a model just made waits (a little) for the history, so that it is shown at once.
                let waitForHistory = clock.now + historyWait
                while !isReady() && clock.now < waitForHistory { try await Task.sleep(for: .milliseconds(20)) }
                let (first, start) = open()
                var cursor = start
                if let first { try await writer.write(Self.event(first.event, first.data)) }
                while !Task.isCancelled && !Task.isShuttingDownGracefully && !stopping() {
                    try await Task.sleep(for: updateInterval)
                    let messages = next(&cursor, &state)
                    if messages.isEmpty {
                        guard clock.now - lastWrite >= keepAliveInterval else { continue }
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    } else {
                        try await writer.write(contentsOf: messages.map { Self.event($0.event, $0.data) })
                    }
                    lastWrite = clock.now
                }
                try await writer.finish(nil)
            }
        )
    }

    private static func event(_ name: String, _ data: JSONValue) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("event: \(name)\ndata: ")
        buffer.writeBytes(data.wireBytes)
        buffer.writeString("\n\n")
        return buffer
    }
}

/// Polls the coordinator's status for the overview pages, as a service of the web view's group.
private struct StatusPoller: Service {
    let link: PoolLink

    func run() async throws {
        await cancelWhenGracefulShutdown { await link.pollStatus() }
        // The server waits for open responses to end: tell the live pages' loops to finish.
        link.stop()
    }
}

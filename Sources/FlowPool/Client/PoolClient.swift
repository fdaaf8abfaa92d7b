import FlowCore
import Logging
import Synchronization
import ZeroMQ

/// A connection to a pool: submit runs, await their results, watch their events.
///
/// The same choice as in process: await the final result, or listen to a namespace's events live, or both.
/// A flow registered on the workers under its name runs remotely unchanged.
///
/// ```swift
/// let pool = try await PoolClient.connect(to: "coordinator.internal:5570")
/// let events = try await pool.events(matching: "sales_agent")
/// let answer = try await pool.run("agent4", namespace: "sales_agent", input: ["question": "hi"])
/// for await event in events { print(event.type, event.content) }
/// ```
public final class PoolClient: Sendable {
    let context: Context
    let loop: SocketLoop
    let control: ControlConnection
    let welcome: Welcome
    let logger: Logger
    /// The CURVE keys every socket to the coordinator uses, when the pool has keys.
    let keys: PoolKeys?
    /// How long a request waits for the coordinator's reply.
    public let requestTimeout: Duration
    /// Fails submits whose reply is overdue (one task for all of them, instead of a timer per request).
    private let sweeper: Task<Void, Never>

    private init(
        context: Context,
        loop: SocketLoop,
        control: ControlConnection,
        welcome: Welcome,
        logger: Logger,
        keys: PoolKeys?,
        requestTimeout: Duration,
        sweeper: Task<Void, Never>
    ) {
        self.keys = keys
        self.context = context
        self.loop = loop
        self.control = control
        self.welcome = welcome
        self.logger = logger
        self.requestTimeout = requestTimeout
        self.sweeper = sweeper
    }

    /// Connects to a coordinator's control endpoint and fetches its other endpoints.
    ///
    /// - Parameters:
    ///   - coordinator: `host`, `host:port` or `tcp://host:port` (default port 5570).
    ///   - timeout: How long to wait for the coordinator's `welcome` (and, later, for each reply).
    ///   - keys: This client's CURVE keys and the coordinator's public key, for a pool with keys.
    ///   - logger: Receives protocol warnings.
    /// - Throws: ``PoolError`` with code `timeout` when the coordinator does not answer (saying why when the
    ///   security handshake failed).
    public static func connect(
        to coordinator: String,
        timeout: Duration = .seconds(10),
        keys: PoolKeys? = nil,
        logger: Logger = Logger(label: "FlowPool.client")
    ) async throws -> PoolClient {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fp-client", batchSize: 512, logger: logger)
        loop.start()
        do {
            let endpoint = CoordinatorAddress.controlEndpoint(coordinator)
            let control = try ControlConnection.open(
                context: context,
                loop: loop,
                endpoint: endpoint,
                keys: keys,
                logger: logger
            )
            let welcome = try await hello(control, timeout: timeout)
            return PoolClient(
                context: context,
                loop: loop,
                control: control,
                welcome: welcome,
                logger: logger,
                keys: keys,
                requestTimeout: timeout,
                sweeper: Task { await control.runSweeper() }
            )
        } catch {
            await loop.shutdown()
            throw error
        }
    }

    /// Runs `body` with a connected client and closes it afterwards, also on error.
    public static func withConnection<T: Sendable>(
        to coordinator: String,
        timeout: Duration = .seconds(10),
        keys: PoolKeys? = nil,
        logger: Logger = Logger(label: "FlowPool.client"),
        _ body: (PoolClient) async throws -> T
    ) async throws -> T {
        let client = try await connect(to: coordinator, timeout: timeout, keys: keys, logger: logger)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    static func hello(_ control: ControlConnection, timeout: Duration) async throws -> Welcome {
        // Pushed results come in batches (`result_batch`): one message for all that end in the same moment.
        let hello = ControlRequest.hello(id: control.makeId(), batchResults: true)
        control.rememberHello(hello)
        let reply: ControlReply
        do {
            reply = try await control.request(hello, timeout: timeout)
        } catch let error as PoolError where error.code == .timeout {
            guard let problem = control.handshakeProblem else { throw error }
            throw PoolError(.timeout, "no welcome from \(control.endpoint): \(problem)")
        }
        guard case .welcome(let welcome) = reply else {
            throw PoolError(.protocolError, "expected welcome from \(control.endpoint), got \(reply)")
        }
        return welcome
    }

    /// Closes the connection and its sockets.
    public func close() async {
        sweeper.cancel()
        control.close()
        await loop.shutdown()
    }

    /// The coordinator's endpoint for another port, using its advertised host or the one we reached it on.
    func endpoint(port: Int) -> String {
        let host = welcome.advertisedHost ?? CoordinatorAddress.host(of: control.endpoint)
        return CoordinatorAddress.endpoint(host: host, port: port)
    }

    // MARK: Runs

    /// A run the coordinator accepted.
    public struct Submission: Sendable, Hashable {
        /// The submit request's id (results are matched by it).
        public var requestId: String
        public var job: String
        public var namespace: String
        public var runId: String
        /// Whether the run already existed (a submit of a run id that was active or had finished): the result
        /// is that run's.
        public var existing = false
    }

    /// Submits a run and returns once the coordinator accepted it.
    ///
    /// - Parameters:
    ///   - flow: The registered flow name (such as `agent4`).
    ///   - namespace: The namespace of the run's events.
    ///   - input: The flow's input (an object's members become the run's shared store).
    ///   - runId: The run id; the coordinator makes one when nil.
    ///   - wantResult: Whether the result is pushed back to this client (needed for ``result(of:limit:)``).
    ///   - maxAttempts: Attempts before the run fails with `attempts_exhausted`; the coordinator's default when nil.
    ///   - deadline: How long the run may take from acceptance; past it, it ends with an `error`
    ///     (`deadline_exceeded`) and its attempt is cancelled on its worker. Whole milliseconds; none when nil.
    ///   - requireWorker: Refuse the run (`no_worker_for_flow`) when no live worker offers its flow, instead of
    ///     queueing it until one does.
    /// - Throws: ``PoolError`` `rejected` with ``PoolError/remoteCode`` `pool_full`, `draining`, `bad_request`,
    ///   `no_worker_for_flow`, `forbidden`;
    ///   `timeout`. A run id that is active or finished (result kept) is not run again: the submission names
    ///   that run (``Submission/existing``).
    public func submit(
        _ flow: String,
        namespace: String,
        input: JSONValue,
        runId: String? = nil,
        wantResult: Bool = true,
        maxAttempts: Int? = nil,
        deadline: Duration? = nil,
        requireWorker: Bool = false
    ) async throws -> Submission {
        let id = control.makeId()
        let request = SubmitRequest(
            id: id,
            flow: flow,
            namespace: namespace,
            runId: runId,
            input: input,
            reply: wantResult,
            maxAttempts: maxAttempts,
            deadlineMilliseconds: try deadline.map(Self.milliseconds),
            requireWorker: requireWorker
        )
        let reply = try await control.send(.submit(request), timeout: requestTimeout)
        switch reply {
        case .accepted(_, let job, let ns, let run), .acceptedExisting(_, let job, let ns, let run):
            var confirmed = request
            confirmed.runId = run
            control.track(confirmed)
            if case .acceptedExisting = reply {
                return Submission(requestId: id, job: job, namespace: ns, runId: run, existing: true)
            }
            return Submission(requestId: id, job: job, namespace: ns, runId: run)
        case .error(_, let code, let message):
            throw PoolError(.rejected, message, remoteCode: code)
        default:
            throw PoolError(.protocolError, "unexpected reply to submit: \(reply)")
        }
    }

    /// Submits many runs in one message (at most 1,000) and returns, per run in order, its submission or why
    /// it was refused.
    ///
    /// - Parameter runs: `(flow, namespace, input)` of each run; results are pushed back for every run.
    public func submitBatch(
        _ runs: [(flow: String, namespace: String, input: JSONValue)]
    ) async throws
        -> [Result<Submission, PoolError>]
    {
        let requests = runs.map { run in
            SubmitRequest(id: control.makeId(), flow: run.flow, namespace: run.namespace, input: run.input)
        }
        let reply = try await control.send(
            .submitBatch(id: control.makeId(), runs: requests),
            timeout: requestTimeout
        )
        guard case .acceptedBatch(_, let answers) = reply, answers.count == requests.count else {
            if case .error(_, let code, let message) = reply { throw PoolError(.rejected, message, remoteCode: code) }
            throw PoolError(.protocolError, "unexpected reply to submit_batch: \(reply)")
        }
        for (request, answer) in zip(requests, answers) {
            switch answer {
            case .accepted(_, _, _, let run), .acceptedExisting(_, _, _, let run):
                var confirmed = request
                confirmed.runId = run
                control.track(confirmed)
            default: break
            }
        }
        return answers.map { answer in
            switch answer {
            case .accepted(let id, let job, let ns, let run):
                return .success(Submission(requestId: id, job: job, namespace: ns, runId: run))
            case .acceptedExisting(let id, let job, let ns, let run):
                return .success(Submission(requestId: id, job: job, namespace: ns, runId: run, existing: true))
            case .error(_, let code, let message):
                return .failure(PoolError(.rejected, message, remoteCode: code))
            default:
                return .failure(PoolError(.protocolError, "unexpected answer in accepted_batch"))
            }
        }
    }

    /// Waits for the result of a submission made with `wantResult: true`.
    ///
    /// - Parameters:
    ///   - submission: The accepted run.
    ///   - limit: How long to wait at most; past it, ``PoolError`` `timeout` (the run goes on: ask again
    ///     with ``result(namespace:runId:)``, or cancel it). No limit when nil.
    public func result(of submission: Submission, limit: Duration? = nil) async throws -> RunResult {
        guard let limit else { return try await control.result(for: submission.requestId) }
        let control = self.control
        return try await withTimeout(limit, what: "result of \(submission.namespace)/\(submission.runId)") {
            try await control.result(for: submission.requestId)
        }
    }

    /// Runs a registered flow on the pool and returns its result.
    ///
    /// - Throws: ``PoolError`` `rejected` (not accepted), `runFailed` (the run ended with `error`; the
    ///   remote code says why, such as `flow_failed` or `attempts_exhausted`).
    public func run(
        _ flow: String,
        namespace: String,
        input: JSONValue,
        runId: String? = nil
    ) async throws
        -> JSONValue
    {
        let submission = try await submit(flow, namespace: namespace, input: input, runId: runId)
        let result = try await self.result(of: submission)
        guard result.status == .completed else {
            throw PoolError(
                .runFailed,
                "run \(result.namespace)/\(result.runId) failed after \(result.attempts) attempt(s): \(result.errorMessage ?? "")",
                remoteCode: result.errorCode
            )
        }
        return result.result
    }

    /// Runs a flow on the pool by its name: the same flow value that runs locally, registered on the workers.
    public func run(
        _ flow: some FlowStep,
        namespace: String,
        input: JSONValue,
        runId: String? = nil
    ) async throws
        -> JSONValue
    {
        try await run(flow.name, namespace: namespace, input: input, runId: runId)
    }

    /// The result of a finished run, by namespace and run id.
    public func result(namespace: String, runId: String) async throws -> RunResult {
        let reply = try await control.request(
            .getResult(id: control.makeId(), namespace: namespace, runId: runId),
            timeout: requestTimeout
        )
        switch reply {
        case .result(let r): return r
        case .error(_, let code, let message): throw PoolError(.rejected, message, remoteCode: code)
        default: throw PoolError(.protocolError, "unexpected reply to get_result: \(reply)")
        }
    }

    /// Cancels a run: a queued run is removed, a running one's task is cancelled on its worker; the run ends with
    /// one `cancelled` terminal event and a result whose status is `cancelled` (pushed to its submitter as usual).
    ///
    /// - Returns: the state the run was in (`queued`, `dispatched` or `running`).
    /// - Throws: ``PoolError`` `rejected` with ``PoolError/remoteCode`` `already_finished` (its result stands) or
    ///   `not_found`; `timeout`.
    @discardableResult
    public func cancel(namespace: String, runId: String) async throws -> String {
        let reply = try await control.request(
            .cancel(id: control.makeId(), namespace: namespace, runId: runId),
            timeout: requestTimeout
        )
        switch reply {
        case .cancelled(_, _, _, _, let was): return was
        case .error(_, let code, let message): throw PoolError(.rejected, message, remoteCode: code)
        default: throw PoolError(.protocolError, "unexpected reply to cancel: \(reply)")
        }
    }

    /// Cancels a submitted run (see ``cancel(namespace:runId:)``).
    @discardableResult
    public func cancel(_ submission: Submission) async throws -> String {
        try await cancel(namespace: submission.namespace, runId: submission.runId)
    }

    static func milliseconds(_ d: Duration) throws -> Int {
        let (seconds, attoseconds) = d.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard ms >= 1, ms <= PoolProtocol.maxDeadlineMilliseconds else {
            throw PoolError(.invalidArgument, "a deadline is 1 ms to 30 days, not \(d)")
        }
        return Int(ms)
    }

    /// The coordinator's status: workers, queue depth, in-flight runs and counters.
    public func status() async throws -> JSONValue {
        let reply = try await control.request(.status(id: control.makeId()), timeout: requestTimeout)
        guard case .status(_, let body) = reply else {
            throw PoolError(.protocolError, "unexpected reply to status: \(reply)")
        }
        return body
    }

    /// Stored events (replay), for a pattern or specific ranges.
    ///
    /// - Parameters:
    ///   - pattern: Every stored event of the runs a subscription pattern (`ns`, `ns/run`, `prefix*`) selects.
    ///   - ranges: Stored events of specific runs, by attempt and `seq` range.
    ///   - lastRuns: With a pattern, only the newest this many of the runs it selects.
    public func replay(
        pattern: String? = nil,
        ranges: [ReplayRange] = [],
        lastRuns: Int? = nil
    ) async throws
        -> [WireEvent]
    {
        let replay = try await control.replay(
            ReplayRequest(id: control.makeId(), pattern: pattern, ranges: ranges, lastRuns: lastRuns),
            timeout: requestTimeout
        )
        return replay.events.compactMap { try? $0.decode() }
    }
}

import Logging

extension FlowStep {
    /// Runs this step (usually a ``Flow``) as one run of `namespace`, streaming its events to `sink`.
    ///
    /// Binds the run's ``EventContext`` so that ``emit(_:_:)`` works in every node, then visits the step.
    /// The run ends with exactly one terminal event: the `final` a node emitted, else a `final` the engine
    /// emits whose content is the result (see ``FlowResult/value``); `error` with
    /// `{"code": "flow_failed", "message": …, "node": …}` (``ErrorContent``; the innermost failing node) if the flow throws; `cancelled` if the task is
    /// cancelled. Whether anybody listens or not, the same code runs and the same result comes back.
    ///
    /// Once a node has emitted a terminal event the stream is closed: later emits are ignored (counted in
    /// ``FlowResult/ignoredEvents``, with one warning to `logger`), and if the flow then throws, the error
    /// still reaches the caller but no second terminal event is emitted.
    ///
    /// - Parameters:
    ///   - shared: The store the nodes share; read it afterwards for everything the flow wrote.
    ///   - namespace: The namespace of the run's events, such as `sales_agent`.
    ///   - runId: The run's id; a new one by default.
    ///   - params: The parameters nodes see through ``FlowStep/params``.
    ///   - sink: Where events go; ``EventStreamer/shared`` by default.
    ///   - logger: Receives a warning if nodes emit after the terminal event.
    /// - Returns: The run's result.
    /// - Throws: ``FlowError`` for an invalid namespace or run id (before anything runs); the error the flow
    ///   threw; `CancellationError` when cancelled.
    @discardableResult
    public func run(
        _ shared: SharedStore = SharedStore(),
        namespace: String,
        runId: String = RunID.make(),
        params: [String: JSONValue] = [:],
        sink: any EventSink = EventStreamer.shared,
        logger: Logger? = nil
    ) async throws -> FlowResult {
        try RunNames.validate(namespace: namespace, runId: runId)
        let run = RunState(namespace: namespace, runId: runId, sink: sink, logger: logger)
        let context = EventContext(run: run, node: name, params: params)
        do {
            let action = try await EventContext.$current.withValue(context) {
                try await visit(shared)
            }
            let value = shared[resultKey] ?? .null
            run.finish(.final, value, node: name)
            return FlowResult(
                namespace: namespace,
                runId: runId,
                value: value,
                action: action,
                eventCount: run.eventCount,
                ignoredEvents: run.ignoredCount
            )
        } catch {
            if error is CancellationError || Task.isCancelled {
                run.finish(.cancelled, ["node": .string(run.failedNode ?? name)], node: run.failedNode ?? name)
                throw CancellationError()
            }
            let node = run.failedNode ?? name
            let content = ErrorContent.make(
                code: ErrorContent.flowFailed,
                message: String(describing: error),
                node: node
            )
            run.finish(.error, content, node: node)
            throw error
        }
    }
}

/// Checks namespaces and run ids, which become topic segments.
enum RunNames {
    static func validate(namespace: String, runId: String) throws {
        if let problem = problem(namespace) {
            throw FlowError(
                .invalidNamespace,
                "Invalid namespace \"\(namespace)\": \(problem). Use a name such as `sales_agent`."
            )
        }
        if let problem = problem(runId) {
            throw FlowError(.invalidRunId, "Invalid run id \"\(runId)\": \(problem).")
        }
    }

    private static func problem(_ segment: String) -> String? {
        if segment.isEmpty { return "it is empty" }
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "*"): return "it contains `/` or `*`"
            case 0...0x20, 0x7F: return "it contains whitespace or control characters"
            default: continue
            }
        }
        return nil
    }
}

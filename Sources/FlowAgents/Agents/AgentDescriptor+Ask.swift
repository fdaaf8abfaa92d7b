import FlowCore

extension AgentDescriptor {
    /// Runs one question in this process and hands every event of the run to `onEvent` as it happens.
    ///
    /// - Parameters:
    ///   - question: The question.
    ///   - provider: The model; the offline one by default.
    ///   - namespace: The run's namespace; ``defaultNamespace`` by default.
    ///   - streamer: Where the run's events go; a private streamer by default.
    ///   - onEvent: Called with each event in order, the terminal one last.
    /// - Returns: The run's result; ``answer(from:)`` reads the answer.
    /// - Throws: ``AgentError`` for a bad question; what the run threw (after its `error` event).
    public func ask(
        _ question: String,
        provider: any LLMProvider = OfflineProvider(),
        namespace: String? = nil,
        streamer: EventStreamer = EventStreamer(),
        onEvent: @escaping @Sendable (StreamEvent) async -> Void = { _ in }
    ) async throws -> FlowResult {
        let store = try makeStore(question: question)
        let flow = makeFlow(provider: provider)
        let namespace = namespace ?? defaultNamespace
        let runId = RunID.make()
        let events = try streamer.subscribe("\(namespace)/\(runId)")
        async let outcome = Self.run(
            flow,
            store,
            namespace: namespace,
            runId: runId,
            streamer: streamer,
            events: events
        )
        for await event in events {
            await onEvent(event)
        }
        return try await outcome.get()
    }

    private static func run(
        _ flow: Flow,
        _ store: SharedStore,
        namespace: String,
        runId: String,
        streamer: EventStreamer,
        events: EventSubscription
    ) async -> Result<FlowResult, any Error> {
        defer { events.cancel() }
        do {
            return .success(try await flow.run(store, namespace: namespace, runId: runId, sink: streamer))
        } catch {
            return .failure(error)
        }
    }
}

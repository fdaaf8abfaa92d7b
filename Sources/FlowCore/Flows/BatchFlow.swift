/// Runs a flow once per parameter set, one after the other.
///
/// `params` returns the parameter sets; each run of ``flow`` sees the current parameters merged with one set
/// (the set's values win) through ``FlowStep/params``. All runs share the store. A batch flow returns
/// ``Action/default``.
public struct BatchFlow: FlowStep {
    public var name: String
    public var resultKey: String { flow.resultKey }
    /// The flow run once per parameter set.
    public var flow: Flow
    /// How many parameter sets run at once (1: sequentially).
    public var maxConcurrency: Int
    let parameterSets: @Sendable (SharedStore) async throws -> [[String: JSONValue]]

    /// Creates a batch flow.
    ///
    /// - Parameters:
    ///   - name: Names the step in events and logs.
    ///   - flow: The flow to run per parameter set.
    ///   - params: Reads the parameter sets from the shared store (PocketFlow's `prep`).
    public init(
        name: String = "batch",
        flow: Flow,
        params: @escaping @Sendable (SharedStore) async throws -> [[String: JSONValue]]
    ) {
        self.name = name
        self.flow = flow
        self.maxConcurrency = 1
        self.parameterSets = params
    }

    public func visit(_ shared: SharedStore) async throws -> Action {
        try await Self.runBatches(flow: flow, shared: shared, sets: parameterSets(shared), limit: maxConcurrency)
        return .default
    }

    static func runBatches(flow: Flow, shared: SharedStore, sets: [[String: JSONValue]], limit: Int) async throws {
        let context = EventContext.current
        _ = try await ConcurrentMap.map(sets, maxConcurrency: limit) { set in
            guard let context else { return try await flow.visit(shared) }
            let merged = context.params.merging(set) { _, new in new }
            return try await EventContext.$current.withValue(context.with(params: merged)) {
                try await flow.visit(shared)
            }
        }
    }
}

/// A ``BatchFlow`` whose runs proceed concurrently, at most ``maxConcurrency`` at a time.
public struct ParallelBatchFlow: FlowStep {
    public var name: String
    public var resultKey: String { flow.resultKey }
    /// The flow run once per parameter set.
    public var flow: Flow
    /// How many parameter sets run at once.
    public var maxConcurrency: Int
    let parameterSets: @Sendable (SharedStore) async throws -> [[String: JSONValue]]

    /// Creates a parallel batch flow; see ``BatchFlow/init(name:flow:params:)``.
    public init(
        name: String = "parallel_batch",
        flow: Flow,
        maxConcurrency: Int = 8,
        params: @escaping @Sendable (SharedStore) async throws -> [[String: JSONValue]]
    ) {
        self.name = name
        self.flow = flow
        self.maxConcurrency = max(1, maxConcurrency)
        self.parameterSets = params
    }

    public func visit(_ shared: SharedStore) async throws -> Action {
        try await BatchFlow.runBatches(
            flow: flow,
            shared: shared,
            sets: parameterSets(shared),
            limit: maxConcurrency
        )
        return .default
    }
}

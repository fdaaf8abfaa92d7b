/// A node that runs `exec` once per item of a list, in order, each item with its own retries.
///
/// `prep` returns the items, `exec` handles one, `post` receives all results in item order. Conform to
/// ``ParallelBatchNode`` instead to run items concurrently.
public protocol BatchNode: FlowStep {
    /// One unit of work.
    associatedtype Item: Sendable
    /// What `exec` returns for one item.
    associatedtype ItemResult: Sendable

    /// How many times `exec` is attempted per item before falling back. Defaults to 1.
    var maxRetries: Int { get }
    /// How long to wait between attempts. Defaults to zero.
    var wait: Duration { get }
    /// How many items run at once: 1 for a batch node, more for a ``ParallelBatchNode``.
    var maxConcurrency: Int { get }

    /// Reads the items from the shared store.
    func prep(_ shared: SharedStore) async throws -> [Item]
    /// Handles one item.
    func exec(_ item: Item) async throws -> ItemResult
    /// Produces an item's result after its last attempt failed. The default rethrows `error`.
    func execFallback(_ item: Item, error: any Error) async throws -> ItemResult
    /// Writes the results, in item order, and returns the next action. The default returns ``Action/default``.
    func post(_ shared: SharedStore, items: [Item], results: [ItemResult]) async throws -> Action
}

extension BatchNode {
    public var maxRetries: Int { 1 }
    public var wait: Duration { .zero }
    public var maxConcurrency: Int { 1 }

    public func execFallback(_ item: Item, error: any Error) async throws -> ItemResult { throw error }

    public func post(_ shared: SharedStore, items: [Item], results: [ItemResult]) async throws -> Action {
        .default
    }

    public func visit(_ shared: SharedStore) async throws -> Action {
        let items = try await prep(shared)
        let results = try await ConcurrentMap.map(items, maxConcurrency: maxConcurrency) { item in
            try await Retry.run(maxRetries: maxRetries, wait: wait) {
                try await exec(item)
            } fallback: { error in
                try await execFallback(item, error: error)
            }
        }
        return try await post(shared, items: items, results: results)
    }
}

/// A ``BatchNode`` whose items run concurrently in a task group, at most ``BatchNode/maxConcurrency`` at a time.
///
/// Results still reach `post` in item order. Items share the ``SharedStore``; use its `update` for
/// read-modify-write from `exec`.
public protocol ParallelBatchNode: BatchNode {}

extension ParallelBatchNode {
    /// Defaults to 8.
    public var maxConcurrency: Int { 8 }
}

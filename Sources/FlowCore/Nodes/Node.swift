/// A unit of work with PocketFlow's lifecycle: `prep` reads, `exec` computes, `post` writes and decides.
///
/// A visit calls ``prep(_:)``, then ``exec(_:)`` up to ``maxRetries`` times (waiting ``wait`` between
/// attempts, cancellably), then ``execFallback(_:error:)`` if every attempt failed, then ``post(_:prep:exec:)``
/// whose ``Action`` picks the next node. Only `exec` is retried. Cancellation is never retried.
///
/// Nodes are values: keep configuration in `let` properties and per-visit state in locals. Events are sent
/// with ``emit(_:_:)`` from any of the three methods.
///
/// ```swift
/// struct Shout: Node {
///     func prep(_ shared: SharedStore) async throws -> String { shared["text"]?.stringValue ?? "" }
///     func exec(_ text: String) async throws -> String {
///         emit(.progress, ["status": "shouting"])
///         return text.uppercased()
///     }
///     func post(_ shared: SharedStore, prep: String, exec: String) async throws -> Action {
///         shared["text"] = .string(exec)
///         return .default
///     }
/// }
/// ```
public protocol Node: FlowStep {
    /// What ``prep(_:)`` hands to ``exec(_:)``.
    associatedtype Prep: Sendable = Void
    /// What ``exec(_:)`` hands to ``post(_:prep:exec:)``.
    associatedtype Exec: Sendable = Void

    /// How many times `exec` is attempted before falling back (at least 1). Defaults to 1.
    var maxRetries: Int { get }
    /// How long to wait between attempts. Defaults to zero.
    var wait: Duration { get }
    /// How long one `exec` attempt may take; past it the attempt is cancelled and counts as failed with
    /// ``ExecTimeout`` (so it is retried, then falls back, like any failure). None by default.
    var execTimeout: Duration? { get }

    /// Reads what the node needs from the shared store.
    func prep(_ shared: SharedStore) async throws -> Prep
    /// Does the work. Should not touch the shared store, so that it can be retried.
    func exec(_ prep: Prep) async throws -> Exec
    /// Produces a result after the last attempt failed. The default rethrows `error`.
    func execFallback(_ prep: Prep, error: any Error) async throws -> Exec
    /// Writes results to the shared store and returns the next action. The default returns ``Action/default``.
    func post(_ shared: SharedStore, prep: Prep, exec: Exec) async throws -> Action
}

extension Node {
    public var maxRetries: Int { 1 }
    public var wait: Duration { .zero }
    public var execTimeout: Duration? { nil }

    public func execFallback(_ prep: Prep, error: any Error) async throws -> Exec { throw error }

    public func post(_ shared: SharedStore, prep: Prep, exec: Exec) async throws -> Action { .default }

    public func visit(_ shared: SharedStore) async throws -> Action {
        let prepared = try await prep(shared)
        let result = try await Retry.run(maxRetries: maxRetries, wait: wait) {
            guard let limit = execTimeout else { return try await exec(prepared) }
            return try await ExecTimeout.run(limit, node: name) { try await exec(prepared) }
        } fallback: { error in
            try await execFallback(prepared, error: error)
        }
        return try await post(shared, prep: prepared, exec: result)
    }
}

extension Node where Prep == Void {
    public func prep(_ shared: SharedStore) async throws {}
}

extension Node where Exec == Void {
    public func exec(_ prep: Prep) async throws {}
}

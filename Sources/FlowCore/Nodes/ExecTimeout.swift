/// An `exec` attempt ran past its node's ``Node/execTimeout``: it was cancelled and counts as a failed attempt.
public struct ExecTimeout: Error, Sendable, CustomStringConvertible {
    /// The node whose attempt timed out.
    public var node: String
    public var limit: Duration

    public var description: String { "exec of \(node) took longer than its timeout of \(limit)" }

    /// Runs `body`, cancelling it and throwing ``ExecTimeout`` once `limit` has passed. A cancellation of the
    /// calling task is passed on as it is.
    static func run<R: Sendable>(
        _ limit: Duration,
        node: String,
        _ body: @escaping @Sendable () async throws -> R
    ) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            // The first to finish decides: the body's value or error, or the timer (nil).
            let first = try await group.next()!
            guard let value = first else { throw ExecTimeout(node: node, limit: limit) }
            return value
        }
    }
}

/// The retry loop shared by nodes and batch nodes.
enum Retry {
    /// Runs `body` up to `maxRetries` times, sleeping `wait` between attempts, then `fallback` with the last
    /// error. Cancellation (a `CancellationError`, or any error once the task is cancelled) is rethrown at once.
    @inline(__always)
    static func run<R>(
        maxRetries: Int,
        wait: Duration,
        _ body: () async throws -> R,
        fallback: (any Error) async throws -> R
    ) async throws -> R {
        let attempts = max(1, maxRetries)
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                if attempt >= attempts { return try await fallback(error) }
            }
            attempt += 1
            if wait > .zero { try await Task.sleep(for: wait) }
        }
    }
}

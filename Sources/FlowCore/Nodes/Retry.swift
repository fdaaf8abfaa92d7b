/// The retry loop shared by nodes and batch nodes.
enum Retry {
    /// Runs `body` up to `maxRetries` times, sleeping `wait` between attempts, then `fallback` with the last
    /// error. Cancellation (a `CancellationError`, or any error once the task is cancelled) is rethrown at once.
    /// Each failed attempt that is followed by another emits a ``EventType/retrying`` event in the current run
    /// (nothing outside a run).
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
                emitRetrying(attempt: attempt, of: attempts, error: error, wait: wait)
            }
            attempt += 1
            if wait > .zero { try await Task.sleep(for: wait) }
        }
    }

    /// The `retrying` event of a failed attempt (kept out of the loop: it runs only on failure).
    @inline(never)
    static func emitRetrying(attempt: Int, of attempts: Int, error: any Error, wait: Duration) {
        guard let context = EventContext.current else { return }
        let c = wait.components
        let milliseconds = Int(c.seconds) * 1000 + Int(c.attoseconds / 1_000_000_000_000_000)
        context.emit(
            .retrying,
            [
                "attempt": .int(attempt), "max_attempts": .int(attempts),
                "error": .string(String(describing: error)), "wait_ms": .int(milliseconds),
            ]
        )
    }
}

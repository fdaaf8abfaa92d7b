import Dispatch

/// A serial dispatch queue that runs blocking work off Swift's cooperative pool and awaits its result.
///
/// SQLite calls and file reads block their thread; running them here keeps the cooperative pool's
/// threads (one per core) free. Work runs one item at a time, in submission order.
package struct BlockingQueue: Sendable {
    private let queue: DispatchQueue

    package init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    /// Runs `body` on the queue's thread and returns its result to the awaiting task.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}

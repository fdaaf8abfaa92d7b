import Synchronization

/// A message queued for sending by a ``SocketLoop``, with an optional confirmation of the send.
struct Outgoing: Sendable {
    var frames: [[UInt8]]
    var confirm: Confirmation?
    /// Sent by a handler on the loop thread; not counted in the shared queue.
    var local = false
}

/// A one-shot result of a send, completed by the loop thread and awaited by the sender.
final class Confirmation: Sendable {
    private let state = Mutex<(result: Result<Void, any Error>?, waiter: CheckedContinuation<Void, any Error>?)>(
        (nil, nil)
    )
    /// Called with the result instead of resuming a waiter, when given.
    private let handler: (@Sendable (Result<Void, any Error>) -> Void)?

    init(handler: (@Sendable (Result<Void, any Error>) -> Void)? = nil) {
        self.handler = handler
    }

    /// Completes the confirmation; later calls are ignored.
    func complete(_ result: Result<Void, any Error>) {
        let waiter: CheckedContinuation<Void, any Error>?? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard let waiter else { return }
        handler?(result)
        waiter?.resume(with: result)
    }

    /// Waits for the result.
    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<Void, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }
}

/// Moves a non-`Sendable` value from one thread to another exactly once.
///
/// `@unchecked Sendable` is sound here because the value is only created from a `sending` parameter
/// (the sender gives up all access) and is unwrapped only by the loop thread that receives it.
struct Transfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: sending Value) { self.value = value }
}

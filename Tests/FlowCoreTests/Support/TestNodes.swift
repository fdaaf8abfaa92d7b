import FlowCore
import Synchronization

/// Writes a fixed value under a key and returns a fixed action.
struct SetNode: Node {
    var name: String
    var key: String
    var value: JSONValue
    var action: Action = .default

    func post(_ shared: SharedStore, prep: Void, exec: Void) async throws -> Action {
        shared[key] = value
        return action
    }
}

/// Appends its name to the `trail` array in the store and returns the action stored under `next.<name>`
/// (or `default`).
struct TrailNode: Node {
    var name: String

    func post(_ shared: SharedStore, prep: Void, exec: Void) async throws -> Action {
        shared.update("trail") { trail in
            trail = .array((trail?.arrayValue ?? []) + [.string(name)])
        }
        return Action(shared["next.\(name)"]?.stringValue ?? "default")
    }
}

/// Emits `count` progress events with its own name and index.
struct EmitNode: Node {
    var name: String
    var count: Int

    func exec(_ prep: Void) async throws {
        for i in 0..<count { emit(.progress, ["i": .int(i)]) }
    }
}

/// Throws `Failure` from `exec`.
struct FailingNode: Node {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "node failed on purpose" }
    }
    var name: String = "failing"

    func exec(_ prep: Void) async throws { throw Failure() }
}

/// A counter shared across tasks.
final class Counter: Sendable {
    private let value = Mutex(0)
    @discardableResult
    func increment() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
    var count: Int { value.withLock { $0 } }
}

/// Fails the first `failures` attempts (counted in `attempts`), then succeeds with the attempt number.
struct FlakyNode: Node {
    var name: String = "flaky"
    var attempts: Counter
    var failures: Int
    var maxRetries: Int
    var wait: Duration = .zero
    var fallbackValue: Int?

    struct Flake: Error {}

    func exec(_ prep: Void) async throws -> Int {
        let attempt = attempts.increment()
        if attempt <= failures { throw Flake() }
        return attempt
    }

    func execFallback(_ prep: Void, error: any Error) async throws -> Int {
        guard let fallbackValue else { throw error }
        return -fallbackValue
    }

    func post(_ shared: SharedStore, prep: Void, exec: Int) async throws -> Action {
        shared["result"] = .int(exec)
        return .default
    }
}

/// Signals that it started, then sleeps until cancelled.
struct BlockingNode: Node {
    var name: String = "blocking"
    var started: Counter

    func exec(_ prep: Void) async throws {
        emit(.progress, ["status": "blocking"])
        started.increment()
        try await Task.sleep(for: .seconds(3600))
    }
}

import FlowCore
import Testing

/// A deadline was reached while waiting for a condition.
struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `timeout`.
func withDeadline<T: Sendable>(
    _ timeout: Duration = .seconds(20),
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Collects events from `subscription` until `terminals` terminal events arrived.
func collect(
    _ subscription: EventSubscription,
    terminals: Int,
    timeout: Duration = .seconds(20)
) async throws -> [StreamEvent] {
    try await withDeadline(timeout, "\(terminals) terminal events") {
        var events: [StreamEvent] = []
        var seen = 0
        for await event in subscription {
            events.append(event)
            if event.type.isTerminal {
                seen += 1
                if seen == terminals { break }
            }
        }
        return events
    }
}

/// Checks that one run's events are numbered 1...n without gaps and end with exactly one terminal event.
func expectWellFormedRun(
    _ events: [StreamEvent],
    terminal: EventType,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(!events.isEmpty, sourceLocation: sourceLocation)
    #expect(events.map(\.seq) == Array(1...UInt64(max(1, events.count))), sourceLocation: sourceLocation)
    #expect(events.filter(\.type.isTerminal).count == 1, sourceLocation: sourceLocation)
    #expect(events.last?.type == terminal, sourceLocation: sourceLocation)
}

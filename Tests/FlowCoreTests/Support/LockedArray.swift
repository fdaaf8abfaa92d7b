import FlowCore
import Synchronization

/// A thread-safe list of events.
final class LockedArray: Sendable {
    private let storage = Mutex<[StreamEvent]>([])
    func append(_ event: StreamEvent) { storage.withLock { $0.append(event) } }
    var all: [StreamEvent] { storage.withLock { $0 } }
}

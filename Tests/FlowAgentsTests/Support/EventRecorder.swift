import FlowCore
import Synchronization

/// Collects the events handed to it, in order.
final class EventRecorder: Sendable {
    private let events = Mutex<[StreamEvent]>([])

    func record(_ event: StreamEvent) { events.withLock { $0.append(event) } }

    var all: [StreamEvent] { events.withLock { $0 } }
    var types: [String] { all.map(\.type.rawValue) }
}

/// An event sink that records synchronously: every event of a finished run is there when `run` returns.
final class RecordingSink: EventSink {
    let recorder = EventRecorder()
    func deliver(_ event: StreamEvent) { recorder.record(event) }
    var events: [StreamEvent] { recorder.all }
    var types: [String] { recorder.types }
}

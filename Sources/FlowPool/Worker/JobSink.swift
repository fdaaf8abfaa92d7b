import FlowCore
import Synchronization

/// The event sink of one attempt: encodes each event once and queues it for the bus, keeping the terminal
/// event's frames for the result message.
final class JobSink: EventSink {
    let attempt: Int
    let outbox: EventOutbox
    private let terminalFrames = Mutex<RawEvent?>(nil)

    init(attempt: Int, outbox: EventOutbox) {
        self.attempt = attempt
        self.outbox = outbox
    }

    func deliver(_ event: StreamEvent) {
        let wire = WireEvent(event: event, attempt: attempt)
        let topic = wire.topicBytes
        let envelope = wire.envelopeBytes
        if event.type.isTerminal {
            terminalFrames.withLock { $0 = RawEvent(topic: topic, envelope: envelope) }
        }
        outbox.push([topic, envelope])
    }

    /// The attempt's terminal event, once emitted.
    var terminal: RawEvent? { terminalFrames.withLock { $0 } }
}

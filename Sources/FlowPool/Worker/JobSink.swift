import FlowCore
import Synchronization

/// The event sink of one attempt: encodes each event once, straight into the outbox's batch, keeping the
/// terminal event's frames for the result message.
final class JobSink: EventSink {
    let attempt: Int
    let outbox: EventOutbox
    private let terminalFrames = Mutex<RawEvent?>(nil)

    init(attempt: Int, outbox: EventOutbox) {
        self.attempt = attempt
        self.outbox = outbox
    }

    func deliver(_ event: StreamEvent) {
        let terminal = event.type.isTerminal
        let (_, frames) = outbox.push(event, attempt: attempt, keepFrames: terminal)
        guard terminal else { return }
        // Kept even when the queue was full: the result message carries the terminal event too.
        let kept =
            frames
            ?? {
                let wire = WireEvent(event: event, attempt: attempt)
                return RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
            }()
        terminalFrames.withLock { $0 = kept }
    }

    /// The attempt's terminal event, once emitted.
    var terminal: RawEvent? { terminalFrames.withLock { $0 } }
}

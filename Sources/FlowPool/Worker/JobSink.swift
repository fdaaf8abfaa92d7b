import FlowCore
import Synchronization

/// The event sink of one attempt: encodes each event once, into a buffer of the run's that the outbox copies
/// into its batch, keeping the terminal event's frames for the result message.
final class JobSink: EventSink {
    let attempt: Int
    let outbox: EventOutbox
    /// The run's topic and envelope prefix, encoded once for all its events.
    let prefix: WireEvent.RunPrefix
    private let terminalFrames = Mutex<RawEvent?>(nil)
    /// The buffer each event is encoded into before it is copied into the outbox, reused for the whole run.
    private let scratch: Mutex<[UInt8]>

    init(attempt: Int, namespace: String, runId: String, outbox: EventOutbox) {
        self.attempt = attempt
        self.outbox = outbox
        self.prefix = WireEvent.RunPrefix(namespace: namespace, runId: runId, attempt: attempt)
        // Room for a typical event, so that the buffer is allocated once rather than grown by the first few.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1024)
        self.scratch = Mutex(buffer)
    }

    func deliver(_ event: StreamEvent) {
        let terminal = event.type.isTerminal
        let prefix = prefix.matches(event) ? prefix : nil
        let frames = scratch.withLock { buffer in
            // The run's result follows its terminal event at once and wakes the publisher for both.
            outbox.push(
                event,
                attempt: attempt,
                prefix: prefix,
                keepFrames: terminal,
                wake: !terminal,
                scratch: &buffer
            )
            .frames
        }
        // Kept even when the queue was full: the result message carries the terminal event too.
        if terminal, let frames { terminalFrames.withLock { $0 = frames } }
    }

    /// The attempt's terminal event, once emitted.
    var terminal: RawEvent? { terminalFrames.withLock { $0 } }
}

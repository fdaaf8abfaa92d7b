import FlowCore

/// Event routing: which events of the bus reach subscribers and the replay buffer.
extension CoordinatorState {
    /// What to do with an event from the bus.
    enum EventDisposition: Equatable {
        case forward
        case hold
        case drop
    }

    /// Handles one event from the bus sent by the worker with routing identity `sender` (as its credential
    /// proved); on `.forward` the caller publishes it (the replay buffer already has it).
    mutating func event(
        _ header: EnvelopeHeader,
        raw: RawEvent,
        sender: [UInt8],
        now: Double
    ) -> (EventDisposition, [Action]) {
        raw.topic.withUnsafeBytes { topic in
            raw.envelope.withUnsafeBytes { envelope in
                let scanned = EnvelopeHeader.Scanned(
                    runKeyCount: header.runKey.utf8.count,
                    attempt: header.attempt,
                    seq: header.seq,
                    isTerminal: header.isTerminal
                )
                return event(scanned, topic: topic, envelope: envelope, sender: sender, now: now)
            }
        }
    }

    /// Handles one event from the bus, given as frames borrowed from the received message (copied only
    /// into the replay buffer, and, for a terminal event, into the job); on `.forward` the caller publishes
    /// it (the replay buffer already has it). Only the worker holding the run's current attempt (`sender`,
    /// proved by its credential) writes into the run; anything else is counted in `rejected_forged`.
    mutating func event(
        _ header: EnvelopeHeader.Scanned,
        topic: UnsafeRawBufferPointer,
        envelope: UnsafeRawBufferPointer,
        sender: [UInt8],
        now: Double
    ) -> (EventDisposition, [Action]) {
        counters.eventsReceived += 1
        guard let job = jobs.job(runKey: header.runKey(topic)) else {
            counters.eventsUnknownRun += 1
            return (.drop, [])
        }
        guard header.attempt == job.attempt else {
            counters.eventsStale += 1
            return (.drop, [])
        }
        guard job.holder == sender else {
            counters.rejectedForged += 1
            return (.drop, [.rejected("an event of \(job.runKey) from a worker that does not hold the run")])
        }
        if header.isTerminal {
            var actions: [Action] = []
            let frames = TerminalFrames.borrowed(topic: topic, envelope: envelope)
            let disposition = terminalArrived(
                job,
                attempt: header.attempt,
                seq: header.seq,
                frames: frames,
                actions: &actions
            )
            return (disposition, actions)
        }
        if header.seq > job.lastSeq { job.lastSeq = header.seq }
        replay.append(
            runKey: job.runKey,
            cached: &job.replayLog,
            attempt: header.attempt,
            seq: header.seq,
            topic: topic,
            envelope: envelope
        )
        counters.eventsForwarded += 1
        return (.forward, [])
    }

    /// Stores a finished run's terminal event, the last of its log in the replay buffer.
    mutating func recordTerminal(_ job: Job, attempt: Int, seq: Int, frames: TerminalFrames) {
        do {
            switch frames {
            case .owned(let raw):
                replay.append(runKey: job.runKey, cached: &job.replayLog, attempt: attempt, seq: seq, raw: raw)
            case .borrowed(let topic, let envelope):
                replay.append(
                    runKey: job.runKey,
                    cached: &job.replayLog,
                    attempt: attempt,
                    seq: seq,
                    topic: topic,
                    envelope: envelope
                )
            }
            replay.finish(runKey: job.runKey, cached: job.replayLog)
        }
        counters.eventsForwarded += 1
    }

    /// The next `replay_batch` of one replay of each control peer not in `busy` (at most `budget`).
    mutating func nextReplayBatches(
        skipping busy: Set<[UInt8]>,
        budget: Int
    ) -> [(identity: [UInt8], frames: [[UInt8]])] {
        replayCursors.isEmpty ? [] : replayCursors.nextBatches(from: replay, skipping: busy, budget: budget)
    }
}

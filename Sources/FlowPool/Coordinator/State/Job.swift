import FlowCore

/// Where a job is in its lifecycle. Only the transitions of ``CoordinatorState`` (JobLifecycle.swift) change it,
/// one function per input, and nothing leaves ``finished``.
///
/// ```
///            submit / recovered
///                   │
///                   ▼        lease expired, ack missed, worker lost (attempts left)
///   ┌──────────► queued ◄────────────────────────────────────────────┐
///   │               │ dispatch                                        │
///   │               ▼                                                 │
///   │          dispatched ──ack──► running ───────────────────────────┤
///   │               │                 │                               │
///   │               └──── result ─────┴──► resultHeld ── worker gone ─┘
///   │                                          │
///   │ late result of a lost attempt            │ terminal event, or grace over
///   └──────────────────────────────────────────┤
///                                              ▼
///   cancel, deadline, attempts exhausted ─► finished
/// ```
enum JobState: Sendable {
    /// Waiting for a worker. After a lost attempt, that attempt's worker may still deliver its result, which
    /// counts; `lostTerminal` is that attempt's terminal event if it came on the bus meanwhile.
    case queued(lostTerminal: Terminal?)
    /// Sent to a worker, which has not confirmed it yet.
    case dispatched(Lease)
    /// Confirmed by the worker's ack.
    case running(Lease)
    /// The attempt's result is in; its terminal event, which follows all its events on the bus, is awaited until
    /// `grace`.
    case resultHeld(HeldResult)
    /// Ended: exactly one terminal event was published and one result recorded.
    case finished(RunResult.Status)

    /// The state's name, as `status` and log lines show it.
    var name: String {
        switch self {
        case .queued: "queued"
        case .dispatched: "dispatched"
        case .running: "running"
        case .resultHeld: "result_held"
        case .finished: "finished"
        }
    }

    var isFinished: Bool {
        if case .finished = self { true } else { false }
    }
}

/// An attempt out on a worker.
struct Lease: Sendable {
    /// The worker's routing identity.
    var worker: [UInt8]
    /// The ack is due by then (monotonic seconds).
    var ackDeadline: Double
    /// The result is due by then.
    var leaseDeadline: Double
    /// The attempt's terminal event, when it came on the bus before the result.
    var busTerminal: Terminal?
}

/// A result waiting for its attempt's terminal event.
struct HeldResult: Sendable {
    var result: RunResult
    /// The worker whose attempt produced it.
    var worker: [UInt8]
    /// The result message's copy of the terminal event, validated only if it is needed.
    var fallback: RawEvent
    /// When to stop waiting for the terminal event on the bus.
    var grace: Double
}

/// A run's terminal event with the attempt and seq its envelope says, read once where it was validated.
struct Terminal: Sendable {
    var raw: RawEvent
    var attempt: Int
    var seq: Int
}

/// One accepted run. A class: the event path mutates it in place without copying its strings and input.
final class Job {
    let id: String
    let flow: String
    let namespace: String
    let runId: String
    let runKey: String
    let input: JSONValue
    /// About how much memory `input` takes (``JSONValue/approximateByteCount``).
    let inputBytes: Int
    /// The control peer the result is pushed to; a resubmit of the same run by another connection takes it over.
    var client: [UInt8]?
    /// The id of the submit request the pushed result answers.
    var requestId: String
    let maxAttempts: Int
    /// When the run must have ended (monotonic seconds), if it has a deadline.
    let deadline: Double?
    /// The same deadline as wall-clock milliseconds since 1970, as the journal keeps it.
    let deadlineWallMilliseconds: Int?
    /// Attempts started; the current attempt's number.
    var attempt = 0
    /// Its place in the order of acceptance (the queues dispatch the oldest first).
    var order = 0
    /// The routing identity of the worker the current attempt was dispatched to: only its events, ack and
    /// result count for the attempt, even after the job went back to the queue.
    var holder: [UInt8]?
    /// Where the job is in its lifecycle; only the transitions change it.
    var state = JobState.queued(lostTerminal: nil)
    /// Highest seq forwarded for the current attempt.
    var lastSeq = 0
    /// The run's log in the replay buffer, once it has one.
    var replayLog: ReplayBuffer.RunLog?

    init(
        id: String,
        flow: String,
        namespace: String,
        runId: String,
        input: JSONValue,
        inputBytes: Int,
        client: [UInt8]?,
        requestId: String,
        maxAttempts: Int,
        deadline: Double? = nil,
        deadlineWallMilliseconds: Int? = nil
    ) {
        self.deadlineWallMilliseconds = deadlineWallMilliseconds
        self.id = id
        self.flow = flow
        self.namespace = namespace
        self.runId = runId
        self.runKey = "\(namespace)/\(runId)"
        self.input = input
        self.inputBytes = inputBytes
        self.client = client
        self.requestId = requestId
        self.maxAttempts = maxAttempts
        self.deadline = deadline
    }

    /// Whether `bytes` is this job's run key.
    func hasRunKey(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let own = runKey.utf8
        guard own.count == bytes.count else { return false }
        return own.withContiguousStorageIfAvailable { UnsafeRawBufferPointer($0).hasSameBytes(as: bytes) }
            ?? own.elementsEqual(bytes)
    }

    /// The journal's record of the run's acceptance.
    var acceptedRecord: JournalRecord {
        .accepted(
            JournalRecord.AcceptedRun(
                job: id,
                flow: flow,
                namespace: namespace,
                runId: runId,
                input: input,
                requestId: requestId,
                maxAttempts: maxAttempts,
                deadlineWallMilliseconds: deadlineWallMilliseconds
            )
        )
    }

    /// The worker holding a slot for the current attempt (dispatched or running), if any.
    var leasedTo: [UInt8]? {
        switch state {
        case .dispatched(let lease), .running(let lease): lease.worker
        case .queued, .resultHeld, .finished: nil
        }
    }
}

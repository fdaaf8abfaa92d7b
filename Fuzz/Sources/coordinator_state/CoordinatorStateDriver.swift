import FlowCore

@testable import FlowPool

/// The coordinator's state machine as ``PoolScenario`` drives it: each input, and what the state machine asked
/// its I/O loop to do. Everything that touches `CoordinatorState` is in this file.
struct CoordinatorStateDriver {
    /// Something the state machine asked its I/O loop to do, as the peers see it.
    enum Effect {
        /// Frames to a worker's routing identity.
        case toWorker([UInt8], [[UInt8]])
        /// Frames to a client's routing identity.
        case toClient([UInt8], [[UInt8]])
        /// A run's result, pushed to the client that submitted it.
        case pushResult([UInt8], RunResult)
        /// An event published to subscribers.
        case publish(RawEvent)
    }

    /// Attempts a run has unless its submit says otherwise.
    static let maxAttempts = 3

    private var state = CoordinatorState(
        config: CoordinatorConfiguration(
            maxQueue: 64,
            maxAttempts: maxAttempts,
            heartbeatTimeout: .seconds(2),
            ackTimeout: .seconds(5),
            leaseTimeout: .seconds(60),
            terminalGrace: .seconds(3),
            replayBytes: 64 << 10,
            replayRuns: 8,
            resultRetention: 8
        ),
        instanceId: "fz",
        credentialKey: Array(repeating: 7, count: 32)
    )

    /// Runs accepted and not yet finished.
    var activeRuns: Int { state.activeJobs }

    mutating func submit(_ request: SubmitRequest, client: [UInt8], now: Double) -> [Effect] {
        Self.effects(state.submit(request, client: client, now: now))
    }

    mutating func submitBatch(id: String, _ requests: [SubmitRequest], client: [UInt8], now: Double) -> [Effect] {
        Self.effects(state.submitBatch(id: id, requests, client: client, now: now))
    }

    mutating func report(_ report: WorkerReport, from worker: [UInt8], now: Double) -> [Effect] {
        Self.effects(state.report(report, from: worker, now: now))
    }

    /// Handles one message of the event bus: a single event, or a batch when `topic` is ``EventBatch/marker``.
    mutating func ingest(topic: [UInt8], envelope: [UInt8], credential: String?, now: Double) -> [Effect] {
        let ingested = state.ingest(
            first: topic,
            second: envelope,
            credential: credential.map { Array($0.utf8) },
            now: now
        )
        let single = !(topic == EventBatch.marker)
        // The I/O loop publishes the forwarded events after carrying out the actions.
        return Self.effects(ingested.actions)
            + ingested.forwarded.map { range in
                .publish(
                    RawEvent(
                        topic: single ? topic : Array(envelope[range.topic]),
                        envelope: Array(envelope[range.envelope])
                    )
                )
            }
    }

    /// Expires what timed out: workers heard of until `workersHeardAt`, events until `eventsHeardAt`.
    mutating func tick(now: Double, workersHeardAt: Double, eventsHeardAt: Double) -> [Effect] {
        Self.effects(state.tick(now: now, workersHeardAt: workersHeardAt, eventsHeardAt: eventsHeardAt))
    }

    /// Answers `get_result`.
    func result(id: String, namespace: String, runId: String) -> ControlReply {
        state.result(id: id, namespace: namespace, runId: runId)
    }

    mutating func workerUnreachable(_ worker: [UInt8], now: Double) -> [Effect] {
        Self.effects(state.workerUnreachable(worker, now: now))
    }

    mutating func beginDrain() { state.beginDrain() }

    /// Handles `cancel`.
    mutating func cancel(id: String, namespace: String, runId: String, client: [UInt8], now: Double) -> [Effect] {
        Self.effects(state.cancel(id: id, namespace: namespace, runId: runId, client: client, now: now))
    }

    private static func effects(_ actions: [CoordinatorState.Action]) -> [Effect] {
        actions.compactMap { action in
            switch action {
            case .command(let identity, let command): .toWorker(identity, [command.frame])
            case .reply(let identity, let reply): .toClient(identity, reply.frames)
            case .pushResult(let identity, let result): .pushResult(identity, result)
            case .publish(let raw): .publish(raw)
            default: nil
            }
        }
    }
}

/// The error codes the coordinator puts in `error` replies and failed results (field `code`).
public struct PoolErrorCode: Sendable, Hashable, RawRepresentable, CustomStringConvertible, Codable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The message is not valid JSON, lacks a field or has a field of the wrong type.
    public static let badRequest = PoolErrorCode("bad_request")
    /// The message has the wrong number of frames.
    public static let badFrames = PoolErrorCode("bad_frames")
    /// The message's `v` is not a version this coordinator speaks.
    public static let unsupportedVersion = PoolErrorCode("unsupported_version")
    /// The message's `op` is unknown.
    public static let unknownOp = PoolErrorCode("unknown_op")
    /// The queue of accepted-but-undispatched jobs is full: retry later or add workers.
    public static let poolFull = PoolErrorCode("pool_full")
    /// The coordinator is shutting down and accepts no new jobs.
    public static let draining = PoolErrorCode("draining")
    /// No such run is known (never submitted, or evicted from the finished-results table).
    public static let notFound = PoolErrorCode("not_found")
    /// The replies and replays already waiting for this peer (or for all peers) are at their bound: read them,
    /// then ask again.
    public static let busy = PoolErrorCode("busy")
    /// `cancel` named a run that has already ended (or whose result is in): its result stands.
    public static let alreadyFinished = PoolErrorCode("already_finished")
    /// The run was cancelled (the `code` of a cancelled run's result and terminal event).
    public static let cancelled = PoolErrorCode("cancelled")
    /// The run's deadline passed before it finished.
    public static let deadlineExceeded = PoolErrorCode("deadline_exceeded")
    /// The key of the connection may not do this: its role does not allow the operation, the namespace is not one
    /// of its namespaces, or the key is no longer in the coordinator's allow-list.
    public static let forbidden = PoolErrorCode("forbidden")
    /// Every attempt of the job was lost (worker died or lease expired each time).
    public static let attemptsExhausted = PoolErrorCode("attempts_exhausted")
    /// A submit with `require_worker` named a flow that no live worker offers.
    public static let noWorkerForFlow = PoolErrorCode("no_worker_for_flow")
    /// The worker does not know the flow named in the job.
    public static let unknownFlow = PoolErrorCode("unknown_flow")
    /// The flow ran and failed.
    public static let flowFailed = PoolErrorCode("flow_failed")
    /// The flow's input was rejected by the flow factory.
    public static let badInput = PoolErrorCode("bad_input")
}

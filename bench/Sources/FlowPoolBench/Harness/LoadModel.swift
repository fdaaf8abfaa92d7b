/// How the harness offers load to the pool.
enum LoadModel: Sendable, Equatable, CustomStringConvertible {
    /// Keep `inFlight` runs submitted and unfinished; submit the next as soon as one finishes.
    case closed(inFlight: Int)
    /// Submit at a fixed rate regardless of how the pool keeps up; latency counts from the intended time.
    case open(perSecond: Double)

    var description: String {
        switch self {
        case .closed(let n): "closed loop, \(n) in flight"
        case .open(let r): "open loop, \(Int(r)) runs/s offered"
        }
    }
}

/// One measured phase: what to submit, how, and for how long.
struct PhasePlan: Sendable {
    var flow: String
    var namespace: String
    /// The submit frame's `input` (already JSON text).
    var inputJSON: String
    var model: LoadModel
    /// Stop submitting after this many runs…
    var runs: Int?
    /// …or after this many seconds.
    var seconds: Double?
    /// The answer every run must return, when known (agent4's).
    var expectedAnswer: String?
    /// Events every run emits, when known (13 for agent4).
    var eventsPerRun: Int?
    /// Closed loop: the runs that replace a batch of results go in one `submit_batch` (else one `submit` each).
    var batchSubmits = true
}

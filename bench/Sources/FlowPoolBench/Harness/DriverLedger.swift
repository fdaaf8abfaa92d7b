/// What the submitting side recorded of each run of a phase. Confined to the driver's loop thread.
struct DriverLedger {
    enum RunState: UInt8 {
        case unsent = 0
        case sent
        case accepted
        case completed
        case failed
        case rejected
    }

    var state: [UInt8] = []
    /// Closed loop: when the submit was sent; open loop: unused (the intended time is computed).
    var sentAt: [UInt64] = []
    var resultAt: [UInt64] = []
    var attempts: [UInt8] = []

    var sent = 0
    /// `submit` and `submit_batch` messages sent (closed loop).
    var submitMessages = 0
    var accepted = 0
    var completed = 0
    var failed = 0
    var rejected = 0
    var rejectedPoolFull = 0
    var duplicateResults = 0
    var wrongAnswers = 0
    var unknownReplies = 0
    var firstSentAt: UInt64 = 0
    var lastResultAt: UInt64 = 0
    var rejectionSample: String?
    var failureSample: String?
    /// Failed runs by their error code.
    var failuresByCode: [String: Int] = [:]

    init(capacity: Int) { grow(to: capacity) }

    mutating func grow(to count: Int) {
        guard count > state.count else { return }
        let n = max(count, state.count * 2)
        let extra = n - state.count
        state += repeatElement(0, count: extra)
        sentAt += repeatElement(0, count: extra)
        resultAt += repeatElement(0, count: extra)
        attempts += repeatElement(0, count: extra)
    }

    var finished: Int { completed + failed + rejected }
}

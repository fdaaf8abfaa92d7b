import Synchronization

/// Whether a coordinator is alive and ready, for a health endpoint (`--metrics-port` serves `/healthz` and
/// `/readyz` from it).
///
/// Live: its socket loop answers (its 50 ms tick ran within the last 5 s). Ready: live, its endpoints bound, not
/// draining.
public final class CoordinatorHealth: Sendable {
    private let bound = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    /// When the last tick ran on the loop (monotonic milliseconds; 0 before the first).
    private let tickAt = Atomic<Int>(0)
    /// A loop that has not ticked for this long is not alive.
    static let tickLimit = 5.0

    public init() {}

    func markBound() { bound.store(true, ordering: .relaxed) }
    func markDraining() { draining.store(true, ordering: .relaxed) }
    func markTick() { tickAt.store(Int(WallClock.monotonic * 1000), ordering: .relaxed) }

    /// Liveness and why.
    public var liveness: (ok: Bool, detail: String) {
        let at = tickAt.load(ordering: .relaxed)
        guard at > 0 else { return (true, "starting") }
        let idle = WallClock.monotonic - Double(at) / 1000
        if idle >= Self.tickLimit { return (false, "the socket loop has not ticked for \(Int(idle)) s") }
        return (true, "the socket loop ticks")
    }

    /// Readiness and why.
    public var readiness: (ok: Bool, detail: String) {
        let live = liveness
        if !live.ok { return live }
        if draining.load(ordering: .relaxed) { return (false, "draining") }
        if !bound.load(ordering: .relaxed) { return (false, "binding its endpoints") }
        return (true, "serving")
    }
}

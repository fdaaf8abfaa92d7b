import Synchronization

/// Whether a worker is alive and ready, for a health endpoint (`--metrics-port` serves `/healthz` and `/readyz`
/// from it) or a supervisor of one's own.
///
/// Live: its flow runtime makes progress (the same check that holds its heartbeats back when it does not for
/// 10 s). Ready: live, registered with a coordinator, and not draining.
public final class WorkerHealth: Sendable {
    private let registered = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    /// When the flow runtime's housekeeping last ran (monotonic milliseconds; 0 before it first did).
    private let runtimeAt = Atomic<Int>(0)

    public init() {}

    func markRegistered() { registered.store(true, ordering: .relaxed) }
    func markDraining() { draining.store(true, ordering: .relaxed) }
    func markRuntime(atMilliseconds ms: Int) { runtimeAt.store(ms, ordering: .relaxed) }

    /// Whether the worker's flow runtime makes progress.
    public var isLive: Bool { liveness.ok }

    /// Whether the worker takes runs: live, registered, not draining.
    public var isReady: Bool { readiness.ok }

    /// Liveness and why.
    public var liveness: (ok: Bool, detail: String) {
        let at = runtimeAt.load(ordering: .relaxed)
        guard at > 0 else { return (true, "starting") }
        let idle = WallClock.monotonic - Double(at) / 1000
        if idle >= WorkerRuntime.stallLimit {
            return (false, "the flow runtime has made no progress for \(Int(idle)) s")
        }
        return (true, "the flow runtime makes progress")
    }

    /// Readiness and why.
    public var readiness: (ok: Bool, detail: String) {
        let live = liveness
        if !live.ok { return live }
        if draining.load(ordering: .relaxed) { return (false, "draining") }
        if !registered.load(ordering: .relaxed) { return (false, "not registered with a coordinator yet") }
        return (true, "registered, taking runs")
    }
}

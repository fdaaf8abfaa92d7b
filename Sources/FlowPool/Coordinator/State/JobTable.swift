/// The jobs accepted and not yet finished: by job id, by run key, and the queue of those waiting for a worker.
/// Knows nothing of workers or results; the lifecycle decides what moves where.
struct JobTable {
    private(set) var byId: [String: Job] = [:]
    /// Active runs: run key → job (the same object as in `byId`; the event path needs one lookup).
    private(set) var byRunKey: [String: Job] = [:]
    /// Jobs waiting for a worker, in dispatch order.
    private(set) var queue = RingBuffer<String>()
    /// The inputs' bytes of the jobs held (bounded by ``CoordinatorConfiguration/maxQueueBytes``).
    private(set) var inputBytes = 0
    /// The jobs of the last events handled, most recent first: a worker's batch interleaves the events of the
    /// few runs its threads execute at once, so the next event's run is one of them most of the time.
    private var recent: [Job] = []
    /// Most jobs in ``recent``.
    static let recentLimit = 4

    init() { recent.reserveCapacity(Self.recentLimit) }

    var count: Int { byId.count }
    var isEmpty: Bool { byId.isEmpty }

    subscript(id id: String) -> Job? { byId[id] }
    subscript(runKey key: String) -> Job? { byRunKey[key] }

    /// Adds a new job at the end of the queue.
    mutating func add(_ job: Job) {
        byId[job.id] = job
        byRunKey[job.runKey] = job
        inputBytes += job.inputBytes
        queue.append(job.id)
    }

    /// Forgets a finished job.
    mutating func remove(_ job: Job) {
        guard byId.removeValue(forKey: job.id) != nil else { return }
        if byRunKey[job.runKey] === job { byRunKey.removeValue(forKey: job.runKey) }
        inputBytes -= job.inputBytes
        recent.removeAll { $0 === job }
    }

    /// Puts a job back at the head of the queue (it goes out first).
    mutating func requeue(_ job: Job) { queue.prepend(job.id) }

    /// The first queued job, without taking it; queue entries of jobs that moved on are dropped on the way.
    mutating func nextQueued() -> Job? {
        while let id = queue.first {
            if let job = byId[id], case .queued = job.state { return job }
            _ = queue.popFirst()
        }
        return nil
    }

    /// Takes the job ``nextQueued()`` returned off the queue.
    mutating func popQueued() { _ = queue.popFirst() }

    /// Takes a job off the queue wherever it is (a late result of a lost attempt ended it there).
    mutating func unqueue(_ job: Job) {
        var rest = RingBuffer<String>(capacity: queue.count + 4)
        while let id = queue.popFirst(), id != job.id {
            rest.append(id)
        }
        while let id = queue.popFirst() { rest.append(id) }
        queue = rest
    }

    /// The active job of the run whose key is `runKey`, looked up among the last few first.
    mutating func job(runKey: UnsafeRawBufferPointer) -> Job? {
        if let i = recent.firstIndex(where: { $0.hasRunKey(runKey) }) {
            let job = recent[i]
            if i > 0 { recent.swapAt(0, i) }
            return job
        }
        guard let found = byRunKey[String(decoding: runKey, as: UTF8.self)] else { return nil }
        if recent.count == Self.recentLimit { recent.removeLast() }
        recent.insert(found, at: 0)
        return found
    }

    /// All active jobs (for the clock's checks and `status`).
    var all: Dictionary<String, Job>.Values { byId.values }
}

/// The jobs accepted and not yet finished: by job id, by run key, and the queues of those waiting for a worker,
/// one per flow (a worker takes only the flows it offers). Knows nothing of workers or results; the lifecycle
/// decides what moves where.
struct JobTable {
    /// The jobs of one flow waiting for a worker, in dispatch order; entries of jobs that moved on are dropped when
    /// they reach the head. A class, so that taking from it leaves the dictionary of queues untouched.
    final class FlowQueue {
        var jobs = RingBuffer<Job>()
    }

    private(set) var byId: [String: Job] = [:]
    /// Active runs: run key → job (the same object as in `byId`; the event path needs one lookup).
    private(set) var byRunKey: [String: Job] = [:]
    /// Jobs waiting for a worker, per flow.
    private(set) var queues: [String: FlowQueue] = [:]
    /// Entries in ``queues`` (jobs that moved on included, until they reach a head).
    private(set) var queuedCount = 0
    /// The next job's place in the order of acceptance: across flows, the oldest head goes first.
    private var nextOrder = 0
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
        job.order = nextOrder
        nextOrder += 1
        queue(of: job.flow).jobs.append(job)
        queuedCount += 1
    }

    private mutating func queue(of flow: String) -> FlowQueue {
        if let queue = queues[flow] { return queue }
        let queue = FlowQueue()
        queues[flow] = queue
        return queue
    }

    /// Forgets a finished job.
    mutating func remove(_ job: Job) {
        guard byId.removeValue(forKey: job.id) != nil else { return }
        if byRunKey[job.runKey] === job { byRunKey.removeValue(forKey: job.runKey) }
        inputBytes -= job.inputBytes
        recent.removeAll { $0 === job }
    }

    /// Puts a job back at the head of its flow's queue (it goes out first, keeping its place in the order).
    mutating func requeue(_ job: Job) {
        queue(of: job.flow).jobs.prepend(job)
        queuedCount += 1
    }

    /// Whether any job waits (possibly one that moved on, dropped when looked at).
    var hasQueued: Bool { queuedCount > 0 }

    /// The oldest queued job among the flows `offered` accepts (all when nil), without taking it; entries of jobs
    /// that moved on are dropped on the way.
    mutating func nextQueued(offered: Set<String>?) -> Job? {
        var best: Job?
        var emptied: [String] = []
        if let offered, offered.count < queues.count {
            for flow in offered {
                guard let queue = queues[flow] else { continue }
                guard let head = head(of: queue) else {
                    emptied.append(flow)
                    continue
                }
                if best.map({ head.order < $0.order }) ?? true { best = head }
            }
        } else {
            for (flow, queue) in queues where offered?.contains(flow) ?? true {
                guard let head = head(of: queue) else {
                    emptied.append(flow)
                    continue
                }
                if best.map({ head.order < $0.order }) ?? true { best = head }
            }
        }
        // A queue whose jobs all moved on goes (flow names are the submitters' to choose).
        for flow in emptied { queues[flow] = nil }
        return best
    }

    /// The first job of `queue` that still waits.
    private mutating func head(of queue: FlowQueue) -> Job? {
        while let job = queue.jobs.first {
            if byId[job.id] === job, case .queued = job.state { return job }
            _ = queue.jobs.popFirst()
            queuedCount -= 1
        }
        return nil
    }

    /// Takes `job`, the head ``nextQueued(offered:)`` returned, off its queue.
    mutating func popQueued(_ job: Job) {
        guard let queue = queues[job.flow], queue.jobs.first === job else { return }
        _ = queue.jobs.popFirst()
        queuedCount -= 1
        if queue.jobs.count == 0 { queues[job.flow] = nil }
    }

    /// Takes a job off its queue wherever it is (a late result of a lost attempt ended it there).
    mutating func unqueue(_ job: Job) {
        guard let queue = queues[job.flow] else { return }
        var rest = RingBuffer<Job>(capacity: queue.jobs.count + 4)
        while let other = queue.jobs.popFirst() {
            if other === job { queuedCount -= 1 } else { rest.append(other) }
        }
        queue.jobs = rest
        if rest.count == 0 { queues[job.flow] = nil }
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

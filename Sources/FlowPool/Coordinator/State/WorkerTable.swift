/// The registered workers and their credit: who may take how many jobs, and who fell silent.
struct WorkerTable {
    /// Whether a worker takes jobs.
    enum Availability: Sendable, Equatable {
        /// Takes jobs as its credit allows.
        case active
        /// Finishing what it holds; takes no more (it said so in a heartbeat).
        case draining
    }

    /// One registered worker. A class: dispatch and every finished run update it in place, where a struct in
    /// the table would go through the table's modify accessor (whose coroutine frame is allocated) each time.
    final class Entry {
        var id: String
        var availability = Availability.active
        /// Free slots the worker granted and the coordinator has not used.
        var credit = 0
        /// Jobs dispatched to the worker whose result is not in yet (dispatched or running): with `credit`, at
        /// most `concurrency`.
        var leased = 0
        /// Jobs whose current attempt the worker holds, leased or with their result waiting for the terminal.
        var jobs: Set<String> = []
        var lastSeen: Double
        var inFlight = 0
        var completed = 0
        var concurrency = 0
        var host = ""
        var pid = 0
        /// Takes several jobs in one `jobs` message.
        var batchJobs = false
        /// The flows it offers; nil: every flow (it named none).
        var flows: Set<String>?

        /// Whether it offers `flow`.
        func offers(_ flow: String) -> Bool { flows?.contains(flow) ?? true }

        init(id: String, lastSeen: Double) {
            self.id = id
            self.lastSeen = lastSeen
        }
    }

    private(set) var entries: [[UInt8]: Entry] = [:]

    subscript(identity: [UInt8]) -> Entry? { entries[identity] }

    var count: Int { entries.count }

    /// Registers a worker (or registers it again: its credit starts over). Returns the entry and whether it is new.
    mutating func register(_ hello: WorkerHello, identity: [UInt8], now: Double) -> (Entry, isNew: Bool) {
        let existing = entries[identity]
        let entry = existing ?? Entry(id: hello.workerId, lastSeen: now)
        entry.id = hello.workerId
        entry.credit = 0
        entry.availability = .active
        entry.lastSeen = now
        entry.concurrency = hello.concurrency
        entry.host = hello.host
        entry.pid = hello.pid
        entry.batchJobs = hello.batchJobs
        entry.flows = hello.flows.isEmpty ? nil : Set(hello.flows)
        entries[identity] = entry
        return (entry, existing == nil)
    }

    /// Adds credit the worker granted, never beyond its concurrency less the jobs it holds; returns how much was
    /// refused. (Both numbers are range-checked where they are decoded, so the sum cannot overflow.)
    mutating func grant(_ credit: Int, to entry: Entry) -> Int {
        let room = max(0, entry.concurrency - entry.leased)
        let granted = entry.credit + credit
        entry.credit = min(granted, room)
        return max(0, granted - room)
    }

    /// The worker with the most credit, if any has some and takes jobs (and is not in `excluded`).
    func mostCredit(excluding excluded: Set<[UInt8]> = []) -> [UInt8]? {
        var best: [UInt8]?
        var bestCredit = 0
        for (identity, w) in entries
        where w.availability == .active && w.credit > bestCredit && !excluded.contains(identity) {
            best = identity
            bestCredit = w.credit
        }
        return best
    }

    /// The flows active workers name.
    var offeredFlows: Set<String> {
        entries.values.reduce(into: []) { flows, w in
            if w.availability == .active, let offered = w.flows { flows.formUnion(offered) }
        }
    }

    /// Whether an active worker offers `flow`.
    func offered(_ flow: String) -> Bool {
        entries.values.contains { $0.availability == .active && $0.offers(flow) }
    }

    /// Forgets a worker; returns its entry.
    mutating func remove(_ identity: [UInt8]) -> Entry? { entries.removeValue(forKey: identity) }

    /// The workers not heard from since `deadline`.
    func silent(since deadline: Double) -> [([UInt8], Entry)] {
        entries.filter { $0.value.lastSeen < deadline }.map { ($0.key, $0.value) }
    }
}

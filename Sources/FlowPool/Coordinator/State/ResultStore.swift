/// Finished runs' results kept for `get_result` (and for resubmits of a finished run), the oldest forgotten first
/// beyond ``CoordinatorConfiguration/resultRetention`` results or ``CoordinatorConfiguration/resultRetentionBytes``
/// bytes.
struct ResultStore {
    /// A kept result, with about how many bytes it takes.
    struct Retained {
        var result: RunResult
        var bytes: Int
    }

    let maxCount: Int
    let maxBytes: Int
    private(set) var byRunKey: [String: Retained] = [:]
    private var order = RingBuffer<String>()
    /// The bytes of the results kept.
    private(set) var bytes = 0

    init(maxCount: Int, maxBytes: Int) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
        // Growing this table rehashes every entry; start it at its working size.
        byRunKey.reserveCapacity(min(maxCount, 1 << 17))
    }

    var count: Int { byRunKey.count }

    /// The run keys of the results kept, oldest first.
    var keysOldestFirst: [String] {
        var seen = Set<String>()
        var keys: [String] = []
        for key in order.reversed() where byRunKey[key] != nil && seen.insert(key).inserted { keys.append(key) }
        return keys.reversed()
    }

    subscript(runKey: String) -> RunResult? { byRunKey[runKey]?.result }

    /// Keeps `result` (its request id blanked) under `runKey`; then forgets the oldest beyond the bounds, except
    /// runs for which `isActive` says a new job runs (their key was submitted again).
    /// Returns the run keys forgotten.
    @discardableResult
    mutating func keep(_ result: RunResult, runKey: String, isActive: (String) -> Bool) -> [String] {
        var stored = result
        stored.id = ""
        let size = Self.retainedBytes(stored)
        if let previous = byRunKey.updateValue(Retained(result: stored, bytes: size), forKey: runKey) {
            bytes -= previous.bytes
        }
        bytes += size
        order.append(runKey)
        var forgotten: [String] = []
        while order.count > maxCount || bytes > maxBytes, let old = order.popFirst() {
            if !isActive(old), let removed = byRunKey.removeValue(forKey: old) {
                bytes -= removed.bytes
                forgotten.append(old)
            }
        }
        return forgotten
    }

    /// About how many bytes a kept result takes: its strings and value, plus its key and table entry.
    static func retainedBytes(_ r: RunResult) -> Int {
        128 + 2 * (r.namespace.utf8.count + r.runId.utf8.count) + r.job.utf8.count
            + (r.errorMessage?.utf8.count ?? 0) + r.result.approximateByteCount
    }
}

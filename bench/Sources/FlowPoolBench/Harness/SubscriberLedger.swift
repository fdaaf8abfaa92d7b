import Histogram

/// What one subscriber saw of each run of a phase: per-attempt sequence checks and terminal events.
///
/// Only the subscriber's loop thread touches it while the phase runs; it is read after that loop stopped.
struct SubscriberLedger {
    /// Attempt of the latest events seen, per run (0: none seen).
    var attempt: [UInt8] = []
    /// Next expected `seq` within that attempt.
    var nextSeq: [UInt16] = []
    /// Terminal events seen (any attempt).
    var terminals: [UInt8] = []
    /// `seq` of the terminal event.
    var terminalSeq: [UInt16] = []
    /// Events received of the latest attempt.
    var received: [UInt16] = []
    /// When the run's first event (`seq` 1 of attempt 1) and its terminal event arrived (ns), if recorded.
    var firstAt: [UInt64] = []
    var terminalAt: [UInt64] = []
    let recordsTimes: Bool
    /// Wall-clock delay from a worker emitting an event (its `ts`) to this subscriber receiving it, in ns,
    /// for first and terminal events (recorded by the subscriber that records times).
    var transit = LatencySummary.makeHistogram()

    var events = 0
    /// When the latest event arrived (ns).
    var lastEventAt: UInt64 = 0
    var gaps = 0
    var missingEvents = 0
    var duplicates = 0
    var stale = 0
    var malformed = 0
    var restarts = 0

    init(recordsTimes: Bool, capacity: Int) {
        self.recordsTimes = recordsTimes
        grow(to: capacity)
    }

    mutating func grow(to count: Int) {
        guard count > attempt.count else { return }
        let n = max(count, attempt.count * 2)
        let extra = n - attempt.count
        attempt += repeatElement(0, count: extra)
        nextSeq += repeatElement(1, count: extra)
        terminals += repeatElement(0, count: extra)
        terminalSeq += repeatElement(0, count: extra)
        received += repeatElement(0, count: extra)
        if recordsTimes {
            firstAt += repeatElement(0, count: extra)
            terminalAt += repeatElement(0, count: extra)
        }
    }

    /// Records one event of run `i`.
    mutating func record(run i: Int, attempt a: Int, seq: Int, terminal: Bool, at now: UInt64) {
        events += 1
        lastEventAt = now
        if i >= attempt.count { grow(to: i + 1) }
        let current = Int(attempt[i])
        if a > current {
            if current != 0 { restarts += 1 }
            attempt[i] = UInt8(clamping: a)
            nextSeq[i] = 1
            received[i] = 0
        } else if a < current {
            stale += 1
            return
        }
        let expected = Int(nextSeq[i])
        if seq == expected {
            nextSeq[i] = UInt16(clamping: seq + 1)
        } else if seq > expected {
            gaps += 1
            missingEvents += seq - expected
            nextSeq[i] = UInt16(clamping: seq + 1)
        } else {
            duplicates += 1
            return
        }
        received[i] &+= 1
        if recordsTimes, seq == 1, firstAt[i] == 0 { firstAt[i] = now }
        if terminal {
            terminals[i] &+= 1
            terminalSeq[i] = UInt16(clamping: seq)
            if recordsTimes, terminalAt[i] == 0 { terminalAt[i] = now }
        }
    }
}

import Synchronization

/// Lets at most `burst` log lines through per `interval`, and tells the next line let through how many it
/// held back meanwhile: a peer that sends a flood of bad messages costs a few lines, not one per message.
///
/// ```swift
/// if let held = throttle.admit() {
///     logger.warning("rejected …\(LogThrottle.suffix(held))")
/// }
/// ```
package final class LogThrottle: Sendable {
    private struct Window {
        var start = 0.0
        var admitted = 0
        var held = 0
    }

    private let window = Mutex(Window())
    private let burst: Int
    private let interval: Double

    /// - Parameters:
    ///   - burst: lines let through per interval.
    ///   - interval: seconds.
    package init(burst: Int = 10, interval: Double = 10) {
        self.burst = burst
        self.interval = interval
    }

    /// Whether to log a line now: nil to hold it back, else how many lines were held back since the last one
    /// let through.
    package func admit(now: Double? = nil) -> Int? {
        let now = now ?? LoopCore.monotonic()
        return window.withLock { w in
            if now - w.start >= interval {
                w.start = now
                w.admitted = 0
            }
            guard w.admitted < burst else {
                w.held += 1
                return nil
            }
            w.admitted += 1
            defer { w.held = 0 }
            return w.held
        }
    }

    /// `" (N similar lines held back)"`, or nothing for 0.
    package static func suffix(_ held: Int) -> String {
        held == 0 ? "" : " (\(held) similar line\(held == 1 ? "" : "s") held back)"
    }
}

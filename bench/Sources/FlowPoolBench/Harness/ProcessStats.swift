import Foundation

/// CPU time and memory of one process, read from `/proc/<pid>/stat` and `/proc/<pid>/status`.
struct ProcessStats: Sendable, Codable, Equatable {
    /// User plus system CPU time, in seconds.
    var cpuSeconds: Double
    /// Peak resident set size (`VmHWM`), in bytes.
    var peakRSSBytes: Int
    /// Current resident set size (`VmRSS`), in bytes.
    var rssBytes: Int

    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The figures of `pid` (`nil` for this process), or nil when the process is gone or /proc is missing.
    static func read(pid: Int32? = nil) -> ProcessStats? {
        let base = pid.map { "/proc/\($0)" } ?? "/proc/self"
        guard let stat = try? String(contentsOfFile: "\(base)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "\(base)/status", encoding: .utf8)
        else { return nil }
        // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        var hwm = 0
        var rss = 0
        for line in status.split(separator: "\n") {
            if line.hasPrefix("VmHWM:") { hwm = kilobytes(line) * 1024 }
            if line.hasPrefix("VmRSS:") { rss = kilobytes(line) * 1024 }
        }
        return ProcessStats(cpuSeconds: (utime + stime) / ticksPerSecond, peakRSSBytes: hwm, rssBytes: rss)
    }

    private static func kilobytes(_ line: Substring) -> Int {
        Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}

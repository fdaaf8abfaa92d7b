#if canImport(Glibc)
import CProcessControl
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The scheduling priority (nice value) of the whole process.
///
/// On Linux a nice value belongs to a thread, and a new thread starts with the nice value of the thread that
/// started it. ``setNice(_:)`` therefore sets it on every thread the process has (`/proc/self/task`); called
/// at start-up, before the program starts its own threads (its socket loops, ZeroMQ's I/O threads), it sets
/// theirs too. (A library may still give a thread of its own another nice value: libdispatch's overcommit
/// threads have been seen at 0.)
///
/// Lowering the nice value (a higher priority) needs `CAP_SYS_NICE` or a `RLIMIT_NICE` that allows it
/// (systemd's `LimitNICE=`); the soft limit is raised to the hard one when that is enough.
package enum ProcessPriority {
    /// Why the nice value could not be set.
    package struct Failure: Error, Equatable, CustomStringConvertible {
        package var errno: Int32

        package var description: String {
            let reason = String(cString: strerror(errno))
            if errno == EPERM || errno == EACCES {
                return "\(reason): a nice value below 0 needs CAP_SYS_NICE or a RLIMIT_NICE that allows it"
            }
            return reason
        }
    }

    /// The valid nice values.
    package static let range: ClosedRange<Int> = -20...19

    /// Sets the nice value of every thread of the process to `nice`; returns how many threads it set.
    /// - Throws: ``Failure`` when a thread could not be set; threads set before it keep the new value (when
    ///   the privilege is missing, the first thread already fails and nothing changes).
    @discardableResult
    package static func setNice(_ nice: Int32) throws(Failure) -> Int {
        #if os(Linux)
        if nice < 0 { _ = flowpool_allow_nice(nice) }
        var set = 0
        // Twice: a thread started during the first pass by a thread not yet set is caught by the second.
        for _ in 0..<2 {
            for tid in threadIds() {
                if flowpool_thread_nice(tid) == nice { continue }
                if flowpool_set_thread_nice(tid, nice) == 0 {
                    set += 1
                } else if Glibc.errno != ESRCH {
                    // ESRCH: the thread ended meanwhile.
                    throw Failure(errno: Glibc.errno)
                }
            }
        }
        return set
        #else
        guard setpriority(PRIO_PROCESS, 0, nice) == 0 else { throw Failure(errno: errno) }
        return 1
        #endif
    }

    /// The nice value of the calling thread.
    package static var currentNice: Int {
        #if os(Linux)
        Int(flowpool_thread_nice(0))
        #else
        Int(getpriority(PRIO_PROCESS, 0))
        #endif
    }

    #if os(Linux)
    /// The ids of the process's threads.
    private static func threadIds() -> [Int32] {
        guard let dir = opendir("/proc/self/task") else { return [0] }
        defer { closedir(dir) }
        var ids: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let id = Int32(name) { ids.append(id) }
        }
        return ids
    }
    #endif
}

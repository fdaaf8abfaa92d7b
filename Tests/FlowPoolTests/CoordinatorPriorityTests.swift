import FlowCore
import FlowPool
import Foundation
import Subprocess
import SystemPackage
import Testing

/// The coordinator's `--nice`: real `flowpool` processes, their threads' nice values read from `/proc`.
@Suite("Coordinator priority", .serialized, .timeLimit(.minutes(2)))
struct CoordinatorPriorityTests {
    /// The nice value of each thread of process `pid`, by thread name.
    static func threadNiceValues(_ pid: Int32) throws -> [(name: String, nice: Int)] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        return try tasks.compactMap { tid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8) else {
                return nil  // the thread ended meanwhile
            }
            // "tid (name) state ppid …": the name may hold spaces; field 19, the nice value, is the 17th after it.
            let open = try #require(stat.firstIndex(of: "("))
            let close = try #require(stat.lastIndex(of: ")"))
            let name = String(stat[stat.index(after: open)..<close])
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return (name, try #require(Int(fields[16])))
        }
    }

    /// The nice values of the coordinator's own threads: the process's first thread, its socket loop and
    /// ZeroMQ's I/O threads.
    static func coordinatorThreads(_ pid: Int32) throws -> [(name: String, nice: Int)] {
        try threadNiceValues(pid).filter {
            $0.name == "flowpool" || $0.name == "fp-coordinator" || $0.name.hasPrefix("ZMQbg/IO")
        }
    }

    static func runOne(_ pool: PoolHarness) async throws {
        try await PoolClient.withConnection(to: pool.control) { client in
            let result = try await client.run("agent4", namespace: "nice", input: ["question": .string("q")])
            #expect(result.stringValue == "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ")
        }
    }

    @Test("--nice sets the coordinator's threads, and its start-up output says so")
    func niceApplied() async throws {
        try await PoolHarness.with(workers: 1, coordinatorArguments: ["--nice", "7"]) { pool in
            try await Self.runOne(pool)
            let threads = try Self.coordinatorThreads(pool.coordinator.pid)
            #expect(threads.contains { $0.name == "fp-coordinator" }, "\(threads)")
            #expect(threads.contains { $0.name.hasPrefix("ZMQbg/IO") }, "\(threads)")
            #expect(threads.allSatisfy { $0.nice == 7 }, "\(threads)")
            #expect(pool.coordinator.stdout.contains("priority   nice 7\n"), "\(pool.coordinator.stdout)")
        }
        for bad in ["-21", "20"] {
            let result = try await Subprocess.run(
                .path(FilePath(PoolHarness.executable)),
                arguments: Arguments(["coordinator", "--control-port", "0", "--nice", bad]),
                input: .none,
                output: .string(limit: 1 << 16),
                error: .string(limit: 1 << 16)
            )
            let output = result.standardOutput + result.standardError
            #expect(result.terminationStatus != .exited(0), "--nice \(bad) was accepted")
            #expect(output.contains("--nice must be between -20 and 19"), "\(output)")
        }
    }

    /// Root (as CI runs) may lower a nice value; without CAP_SYS_NICE and with a RLIMIT_NICE of 0 it may not.
    static let canDropPrivilege =
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")

    @Test(
        "by default a privileged coordinator runs at nice -10; without the privilege it says so and still serves",
        .enabled(if: canDropPrivilege)
    )
    func defaultAndUnprivileged() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            let threads = try Self.coordinatorThreads(pool.coordinator.pid)
            #expect(!threads.isEmpty && threads.allSatisfy { $0.nice == -10 }, "\(threads)")
            #expect(pool.coordinator.stdout.contains("priority   nice -10\n"), "\(pool.coordinator.stdout)")
        }
        let launcher = ["/usr/bin/prlimit", "--nice=0:0", "/usr/bin/setpriv", "--bounding-set", "-sys_nice"]
        try await PoolHarness.with(workers: 1, coordinatorLauncher: launcher) { pool in
            try await Self.runOne(pool)
            let threads = try Self.coordinatorThreads(pool.coordinator.pid)
            #expect(!threads.isEmpty && threads.allSatisfy { $0.nice == 0 }, "\(threads)")
            let out = pool.coordinator.stdout
            #expect(out.contains("priority   nice 0, not -10 ("), "\(out)")
            #expect(out.contains("CAP_SYS_NICE"), "the notice says what would allow it: \(out)")
        }
    }
}

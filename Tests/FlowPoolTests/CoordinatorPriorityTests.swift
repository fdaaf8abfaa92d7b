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

    /// Whether this process may lower a nice value (CAP_SYS_NICE in its effective set, as root usually has):
    /// the coordinator it starts then may too.
    static let mayLowerNice: Bool = {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let caps = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return caps & (1 << 23) != 0
    }()

    /// Starts the coordinator without CAP_SYS_NICE and with a RLIMIT_NICE of 0, so that it may not lower its nice
    /// value; usable where this process may drop a capability from its children's bounding set.
    static let unprivileged = ["/usr/bin/prlimit", "--nice=0:0", "/usr/bin/setpriv", "--bounding-set", "-sys_nice"]

    static func canRun(_ command: [String]) async -> Bool {
        guard FileManager.default.isExecutableFile(atPath: command[0]) else { return false }
        let result = try? await Subprocess.run(
            .path(FilePath(command[0])),
            arguments: Arguments(Array(command.dropFirst())),
            input: .none,
            output: .discarded,
            error: .discarded
        )
        return result?.terminationStatus == .exited(0)
    }

    @Test("with CAP_SYS_NICE the coordinator runs at nice -10 by default", .enabled(if: mayLowerNice))
    func defaultPrivileged() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            let threads = try Self.coordinatorThreads(pool.coordinator.pid)
            #expect(!threads.isEmpty && threads.allSatisfy { $0.nice == -10 }, "\(threads)")
            #expect(pool.coordinator.stdout.contains("priority   nice -10\n"), "\(pool.coordinator.stdout)")
        }
    }

    @Test(
        "without the privilege the coordinator says so at start-up, keeps its nice value and still serves",
        .enabled { await canRun(unprivileged + ["/bin/true"]) }
    )
    func unprivilegedCoordinator() async throws {
        try await PoolHarness.with(workers: 1, coordinatorLauncher: Self.unprivileged) { pool in
            try await Self.runOne(pool)
            // The worker, started the same way without changing its nice value, shows the inherited one.
            let worker = try Self.threadNiceValues(pool.workers[0].pid)
            let inherited = try #require(worker.first { $0.name == "flowpool" }?.nice)
            let threads = try Self.coordinatorThreads(pool.coordinator.pid)
            #expect(!threads.isEmpty && threads.allSatisfy { $0.nice == inherited }, "\(threads)")
            let out = pool.coordinator.stdout
            #expect(out.contains("priority   nice \(inherited), not -10 ("), "\(out)")
            #expect(out.contains("CAP_SYS_NICE"), "the notice says what would allow it: \(out)")
        }
    }
}

import Foundation
import Subprocess
import SystemPackage
import Testing

/// Children of `flowpool demo` and of the load harness stop when their parent is killed with SIGKILL (no
/// teardown runs), through the parent-death signal they arm at start-up.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ParentDeathTests {
    /// The direct children of `parent`, from /proc.
    static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let stat = Self.stat(pid) else { return nil }
            return stat.parent == parent ? pid : nil
        }
    }

    /// State letter and parent pid of `pid`, or nil when the process is gone.
    static func stat(_ pid: Int32) -> (state: Character, parent: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let parent = Int32(fields[1]) else { return nil }
        return (state, parent)
    }

    /// Whether `pid` still runs (a zombie waiting for init to reap it has stopped running).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = stat(pid) else { return false }
        return stat.state != "Z" && stat.state != "X"
    }

    /// Starts `executable arguments`, waits until a line of its output satisfies `ready` and `childCount`
    /// children exist, kills it with SIGKILL and returns its children that still run after `seconds`.
    static func survivors(
        of executable: String,
        _ arguments: [String],
        childCount: Int,
        seconds: Double = 30,
        ready: @escaping @Sendable (String) -> Bool
    ) async throws -> (parent: Int32, children: [Int32], survivors: [Int32]) {
        try #require(FileManager.default.isExecutableFile(atPath: executable), "\(executable) is not built")
        let outcome = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            input: .none,
            output: .sequence,
            error: .sequence
        ) { execution -> Result<(Int32, [Int32]), HarnessError> in
            let parent = execution.processIdentifier.value
            // Both pipes drained at once; a line from either can say "ready".
            let (lines, sink) = AsyncStream<String>.makeStream()
            return await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await line in execution.standardOutput.strings() { sink.yield(line) }
                    } catch {}
                }
                group.addTask {
                    do {
                        for try await line in execution.standardError.strings() { sink.yield(line) }
                    } catch {}
                }
                defer {
                    // SIGKILL: the parent gets no chance to stop its children.
                    try? execution.send(signal: .kill)
                    sink.finish()
                }
                var seen: [String] = []
                let deadline = ContinuousClock.now + .seconds(60)
                var isReady = false
                for await line in lines {
                    seen.append(line)
                    if ready(line) {
                        isReady = true
                        break
                    }
                    if ContinuousClock.now > deadline { break }
                }
                guard isReady else {
                    return .failure(HarnessError("not ready:\n\(seen.suffix(20).joined(separator: "\n"))"))
                }
                while ContinuousClock.now < deadline {
                    let children = Self.children(of: parent)
                    if children.count >= childCount { return .success((parent, children)) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return .failure(HarnessError("\(childCount) children did not appear"))
            }
        }
        let (parent, children) = try outcome.closureResult.get()
        #expect(outcome.terminationStatus == TerminationStatus.signaled(SIGKILL))
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var running = children.filter(isRunning)
        while !running.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            running = running.filter(isRunning)
        }
        // Whatever the outcome, leave nothing behind.
        for pid in running { kill(pid, SIGKILL) }
        return (parent, children, running)
    }

    @Test func demoChildrenStopWhenTheDemoIsKilled() async throws {
        let (demo, children, survivors) = try await Self.survivors(
            of: PoolHarness.executable,
            [
                "demo", "--no-color", "--questions", "1", "--token-delay-ms", "100", "--log-level", "warning",
                "--web-port", "0",
            ],
            childCount: 4,
            // Mid-run: each answer streams for seconds from its first event.
            ready: { $0.contains(" progress ") }
        )
        #expect(children.count == 4, "coordinator, 2 workers and the web view")
        #expect(survivors.isEmpty, "still running 30 s after the demo was killed: \(survivors)")
        // The demo's data directory, which it had no chance to remove.
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "flowpool-demo-\(demo)")
    }

    @Test func localPoolStopsWhenTheLoadHarnessIsKilled() async throws {
        let bench = BenchHarnessTests.buildDirectory.appendingPathComponent("flowpool-bench").path
        let (_, children, survivors) = try await Self.survivors(
            of: bench,
            [
                "load", "--workers", "2", "--duration", "60", "--warmup", "0", "--baseline-messages", "0",
                "--in-flight", "16", "--flowpool", PoolHarness.executable,
            ],
            childCount: 3,
            // The progress line: the pool is up and running jobs.
            ready: { $0.hasPrefix("[closed loop]") }
        )
        #expect(children.count == 3)
        #expect(survivors.isEmpty, "still running 30 s after the harness was killed: \(survivors)")
    }

    @Test(arguments: ["1", "not-a-pid"])
    func aChildToldOfAnotherParentRefusesToStart(_ parent: String) async throws {
        let result = try await Subprocess.run(
            .path(FilePath(PoolHarness.executable)),
            arguments: [
                "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                "--events-in-port", "0", "--events-out-port", "0",
            ],
            environment: .inherit.updating(["FLOWPOOL_PARENT_PID": parent]),
            output: .string(limit: 1 << 16),
            error: .string(limit: 1 << 16)
        )
        #expect(result.terminationStatus != .exited(0))
        let stderr = result.standardError
        #expect(stderr.contains("FLOWPOOL_PARENT_PID"), "\(stderr)")
        // It stopped before binding anything.
        #expect(!result.standardOutput.contains("control"))
    }
}

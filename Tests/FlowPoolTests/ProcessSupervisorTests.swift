import Foundation
import Logging
import ProcessSupervision
import Testing

/// The supervisor behind `flowpool demo` and the load harness, on `/bin/sh` children: how a child is stopped,
/// killed and reaped, and what it is told about its parent.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct ProcessSupervisorTests {
    static let logger = Logger(label: "test.supervisor")

    /// Waits for the first line of `child`'s standard output.
    static func firstLine(of child: ProcessSupervisor.Child) async throws -> String {
        var lines = child.lines.makeAsyncIterator()
        return try #require(await lines.next(), "\(child.name) printed nothing: \(child.stderrTail)")
    }

    /// Whether `pid` still runs (a zombie has stopped running).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return false }
        let state = text[text.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    @Test func stopEndsAChildWithSIGTERM() async throws {
        try await ProcessSupervisor.withSupervisor(executable: "/bin/sh", logger: Self.logger) { supervisor in
            let child = try await supervisor.start("sleeper", arguments: ["-c", "echo ready; exec sleep 60"])
            #expect(try await Self.firstLine(of: child) == "ready")
            let exit = await supervisor.stop(child)
            #expect("\(exit)" == "\(ProcessSupervisor.Child.Exit.signaled(SIGTERM))")
        }
    }

    @Test func stopEscalatesToSIGKILLAfterTheGracePeriod() async throws {
        try await ProcessSupervisor.withSupervisor(
            executable: "/bin/sh",
            grace: .milliseconds(300),
            logger: Self.logger
        ) { supervisor in
            // The shell ignores SIGTERM (and so does the sleep it runs in the foreground).
            let child = try await supervisor.start(
                "stubborn",
                arguments: ["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]
            )
            #expect(try await Self.firstLine(of: child) == "ready")
            let exit = await supervisor.stop(child)
            #expect("\(exit)" == "\(ProcessSupervisor.Child.Exit.signaled(SIGKILL))")
        }
    }

    @Test func killEndsAChildWithSIGKILLAtOnce() async throws {
        try await ProcessSupervisor.withSupervisor(executable: "/bin/sh", logger: Self.logger) { supervisor in
            let child = try await supervisor.start(
                "victim",
                arguments: ["-c", "trap '' TERM; echo ready; exec sleep 60"]
            )
            #expect(try await Self.firstLine(of: child) == "ready")
            let start = ContinuousClock.now
            let exit = await supervisor.kill(child)
            #expect("\(exit)" == "\(ProcessSupervisor.Child.Exit.signaled(SIGKILL))")
            // No grace period before the kill (the default is 5 s).
            #expect(ContinuousClock.now - start < .seconds(4))
        }
    }

    @Test func aChildThatClosedItsOutputIsStillStopped() async throws {
        try await ProcessSupervisor.withSupervisor(executable: "/bin/sh", logger: Self.logger) { supervisor in
            let child = try await supervisor.start(
                "detached",
                arguments: ["-c", "echo ready; exec sleep 60 >/dev/null 2>&1"]
            )
            #expect(try await Self.firstLine(of: child) == "ready")
            // Its output has ended while it runs on.
            for await _ in child.lines {}
            #expect(child.exit == nil)
            let exit = await supervisor.stop(child)
            #expect("\(exit)" == "\(ProcessSupervisor.Child.Exit.signaled(SIGTERM))")
        }
    }

    @Test func theScopeStopsAndReapsEveryChildAndNamesItsParent() async throws {
        let children = try await ProcessSupervisor.withSupervisor(
            executable: "/bin/sh",
            logger: Self.logger
        ) { supervisor in
            var started: [ProcessSupervisor.Child] = []
            for i in 0..<3 {
                let child = try await supervisor.start(
                    "child\(i)",
                    arguments: ["-c", "echo \"$\(ParentDeathSignal.variable)\"; exec sleep 60"]
                )
                #expect(try await Self.firstLine(of: child) == "\(getpid())")
                started.append(child)
            }
            return started
        }
        for child in children {
            #expect(child.exit.map { "\($0)" } == "\(ProcessSupervisor.Child.Exit.signaled(SIGTERM))")
            #expect(!Self.isRunning(try #require(child.pid)))
        }
    }

    @Test func aMissingProgramIsAClearError() async throws {
        let error = await #expect(throws: ProcessSupervisorError.self) {
            try await ProcessSupervisor.withSupervisor(
                executable: "/nonexistent/flowpool",
                logger: Self.logger
            ) { supervisor in
                _ = try await supervisor.start("ghost", arguments: [])
            }
        }
        #expect(error?.code == .spawnFailed)
        #expect(error?.description.contains("/nonexistent/flowpool") == true)
    }
}

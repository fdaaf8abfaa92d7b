import FlowCore
import FlowPool
import Foundation
import Testing

/// The Python client (`clients/python`, pyzmq only) against real pools: its own tests
/// (`clients/python/tests/test_client.py`) run with `python3 -m unittest` and the pool's control endpoint (and key
/// files) in the environment. They submit `agent4`, `sleep` and `fail` runs, follow namespaces live and from the
/// start, cancel a run, and check the errors the coordinator answers.
@Suite(
    "Python client",
    .serialized,
    .enabled(if: PyZMQ.unavailable == nil, Comment(rawValue: PyZMQ.unavailable ?? "pyzmq is installed"))
)
struct PythonClientTests {
    @Test("the Python client's tests pass against a pool without keys")
    func withoutKeys() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await PythonClientSuite.run(
                name: "python-client",
                directory: pool.directory,
                environment: ["FLOWPOOL_TEST_COORDINATOR": pool.control]
            )
        }
    }

    @Test("a Python reader that stops reading misses events at a small high-water mark, and repairs every run it saw")
    func gapsRepaired() async throws {
        try await PoolHarness.with(workers: 1, coordinatorArguments: ["--subscriber-hwm", "4"]) { pool in
            try await PythonClientSuite.run(
                name: "python-client-gaps",
                directory: pool.directory,
                environment: ["FLOWPOOL_TEST_COORDINATOR": pool.control, "FLOWPOOL_TEST_EXPECT_GAPS": "1"],
                only: "slow_reader"
            )
        }
    }

    @Test("the Python client's tests pass against a pool with CURVE keys, with a client key")
    func withKeys() async throws {
        try await PoolHarness.withKeySet(workers: 1) { pool, keys in
            try await PythonClientSuite.run(
                name: "python-client-keys",
                directory: pool.directory,
                environment: [
                    "FLOWPOOL_TEST_COORDINATOR": pool.control,
                    "FLOWPOOL_TEST_KEY_FILE": "\(keys.directory)/client.key_secret",
                    "FLOWPOOL_TEST_COORDINATOR_KEY": "\(keys.directory)/coordinator.key",
                    "FLOWPOOL_TEST_WORKER_KEY_FILE": "\(keys.directory)/worker.key_secret",
                    "FLOWPOOL_TEST_ALLOW_FILE": "\(keys.directory)/allow.list",
                    "FLOWPOOL_TEST_COORDINATOR_PID": "\(pool.coordinator.pid)",
                ],
                requireKeys: true
            )
        }
    }
}

/// Runs `clients/python/tests` with `python3 -m unittest` and checks that it passed.
enum PythonClientSuite {
    /// `clients/python` in this checkout.
    static let clientDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("clients/python").path

    /// Runs the tests (those whose name contains `only`, when given) with `environment` added to this process's
    /// (without its own `FLOWPOOL_TEST_` variables), waits at most `seconds`, and expects exit status 0 with
    /// nothing skipped for want of a pool (or of keys, with `requireKeys`). The Python output is in the failure.
    static func run(
        name: String,
        directory: String,
        environment: [String: String],
        only: String? = nil,
        requireKeys: Bool = false,
        seconds: Double = 300,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FLOWPOOL_TEST_") }
        env["PYTHONPATH"] = [clientDirectory, env["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env["FLOWPOOL_TEST_AGENT4_ANSWER"] = Agent4.expectedAnswer
        env.merge(environment) { _, new in new }

        let outputPath = "\(directory)/\(name).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", "-m", "unittest", "discover", "-s", "tests", "-v"] + (only.map { ["-k", $0] } ?? [])
        process.currentDirectoryURL = URL(fileURLWithPath: clientDirectory)
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer {
            // Reaped also when the deadline passed or something threw.
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let finished = !process.isRunning
        if !finished {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        #expect(finished, "python3 -m unittest still ran after \(seconds) s:\n\(text)", sourceLocation: sourceLocation)
        #expect(
            process.terminationStatus == 0,
            "python3 -m unittest exited with \(process.terminationStatus):\n\(text)",
            sourceLocation: sourceLocation
        )
        #expect(text.contains("\nOK"), "no OK from unittest:\n\(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("Ran 0 tests"), "no test ran:\n\(text)", sourceLocation: sourceLocation)
        #expect(
            !text.contains("FLOWPOOL_TEST_COORDINATOR is not set"),
            "pool tests were skipped:\n\(text)",
            sourceLocation: sourceLocation
        )
        if requireKeys {
            #expect(
                !text.contains("is not set"),
                "key tests were skipped:\n\(text)",
                sourceLocation: sourceLocation
            )
        }
    }
}

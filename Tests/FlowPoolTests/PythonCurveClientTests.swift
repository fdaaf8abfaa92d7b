import FlowCore
import FlowPool
import Foundation
import Synchronization
import Testing
import ZeroMQ

/// A pyzmq client written from docs/PROTOCOL.md alone (`Fixtures/curve_subscriber.py`) against a real coordinator
/// with CURVE keys, a real worker with a worker key, and runs submitted with a client key.
///
/// The coordinator's and the worker's key files are made by pyzmq's `zmq.auth.create_certificates` (flowpool
/// reads pyzmq's files); the client's and the subscriber's by ``CertificateFile`` (pyzmq's
/// `zmq.auth.load_certificate` reads ours).
@Suite(
    "Python CURVE client",
    .serialized,
    .enabled(if: PyZMQ.unavailable == nil, Comment(rawValue: PyZMQ.unavailable ?? "pyzmq with CURVE is installed"))
)
struct PythonCurveClientTests {
    @Test("a pyzmq subscriber with a subscriber key receives every event of its namespace's runs, in order")
    func followsItsNamespace() async throws {
        try await CurvePool.with { pool in
            let follower = try pool.python(
                "follower",
                ["--key-file", pool.key("watcher"), "--namespace", "support", "--runs", "3", "--timeout", "60"]
            )
            defer { follower.kill() }
            try await follower.waitForLine("ready", onStandardError: true, seconds: 30)

            let client = try await pool.client()
            var submissions: [PoolClient.Submission] = []
            for i in 1...3 {
                submissions.append(
                    try await client.submit("sleep", namespace: "support", input: ["ms": 250], runId: "py-\(i)")
                )
            }
            // A run the subscriber's key may not read: none of its events may reach it.
            submissions.append(
                try await client.submit("sleep", namespace: "sales_eu", input: ["ms": 100], runId: "other-1")
            )
            for submission in submissions {
                let result = try await client.result(of: submission, limit: .seconds(30))
                #expect(result.status == .completed, "\(submission.runId): \(result)")
            }

            let status = await follower.waitForExit(seconds: 30)
            #expect(status == 0, "exit status \(String(describing: status)); stderr: \(follower.stderr)")
            let printed = try follower.stdoutLines.map { try JSONValue(wireText: $0) }
            #expect(printed.allSatisfy { $0["ns"]?.stringValue == "support" }, "\(printed)")
            let received = Dictionary(grouping: printed) { $0["run"]?.stringValue ?? "?" }.mapValues { events in
                events.map {
                    Step(
                        attempt: $0["attempt"]?.intValue ?? 0,
                        seq: $0["seq"]?.intValue ?? 0,
                        type: $0["type"]?.stringValue ?? ""
                    )
                }
            }
            // What the coordinator published, from its replay buffer.
            let stored = try await client.replay(pattern: "support")
            let published = Dictionary(grouping: stored, by: \.event.runId).mapValues { events in
                events.map { Step(attempt: $0.attempt, seq: Int($0.event.seq), type: $0.event.type.rawValue) }
            }
            #expect(Set(received.keys) == ["py-1", "py-2", "py-3"])
            for run in ["py-1", "py-2", "py-3"] {
                let steps = received[run] ?? []
                #expect(steps == published[run], "\(run): received \(steps), published \(published[run] ?? [])")
                #expect(steps.count >= 2 && steps.last?.type == "final", "\(run): \(steps)")
                let lastAttempt = steps.filter { $0.attempt == steps.last?.attempt }.map(\.seq)
                #expect(lastAttempt == Array(1...max(1, lastAttempt.count)), "\(run): \(steps)")
            }
            await client.close()
        }
    }

    @Test(
        "outside its namespaces a key's subscriptions are refused and its requests forbidden; unknown keys fail the handshake"
    )
    func refusedOutsideItsNamespaces() async throws {
        try await CurvePool.with { pool in
            // The subscriber key (namespaces: support) and the client key (support, sales_*), both outside billing.
            for name in ["watcher", "app"] {
                let check = try pool.python(
                    "outside-\(name)",
                    ["--key-file", pool.key(name), "--outside", "billing", "--timeout", "30"]
                )
                defer { check.kill() }
                let status = await check.waitForExit(seconds: 40)
                #expect(status == 0, "\(name): exit status \(String(describing: status)); stderr: \(check.stderr)")
                let lines = try check.stdoutLines.map { try JSONValue(wireText: $0) }
                let checks = Dictionary(lines.compactMap { line in line["check"]?.stringValue.map { ($0, line) } }) {
                    a,
                    _ in a
                }
                let refused = checks["subscription"]?["refused"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(Set(refused) == ["billing/", "\u{1}batch/billing/"], "\(name): \(refused)")
                for op in ["submit", "replay"] {
                    let reply = checks[op]?["reply"]
                    #expect(reply?["op"]?.stringValue == "error", "\(name) \(op): \(String(describing: reply))")
                    #expect(reply?["code"]?.stringValue == "forbidden", "\(name) \(op): \(String(describing: reply))")
                    #expect(reply?["id"]?.stringValue != nil, "the error answers the request's id")
                }
                let submitMessage = checks["submit"]?["reply"]?["message"]?.stringValue ?? ""
                let expected = name == "watcher" ? "may not submit runs" : "namespace \"billing\""
                #expect(submitMessage.contains(expected), "\(name): \(submitMessage)")
            }

            // A key that is not in the allow-list: the handshake fails with ZAP status 400.
            let stranger = try pool.python(
                "stranger",
                ["--key-file", pool.key("stranger"), "--expect-handshake-refused", "--timeout", "30"]
            )
            defer { stranger.kill() }
            let status = await stranger.waitForExit(seconds: 40)
            #expect(status == 0, "exit status \(String(describing: status)); stderr: \(stranger.stderr)")
            #expect(stranger.stdout.contains("\"status\":400"), "\(stranger.stdout)")

            let client = try await pool.client()
            let body = try await client.status()
            let counters = body["counters"]
            #expect(counters?["rejected_forbidden"]?.intValue ?? 0 >= 4, "\(String(describing: counters))")
            #expect(counters?["subscriptions_refused"]?.intValue ?? 0 >= 4, "\(String(describing: counters))")
            #expect(counters?["workers_revoked"]?.intValue == 0)
            #expect(body["handshake_failures"]?.intValue ?? 0 >= 1, "\(body)")
            await client.close()
        }
    }
}

/// One event as a subscriber sees it: which attempt, where in it, what kind.
struct Step: Hashable, CustomStringConvertible {
    var attempt: Int
    var seq: Int
    var type: String
    var description: String { "\(attempt).\(seq) \(type)" }
}

/// Whether `python3` with pyzmq (and a libzmq with CURVE) is here.
enum PyZMQ {
    /// Why the pyzmq tests cannot run on this machine, or nil when they can.
    static let unavailable: String? = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys, zmq, zmq.auth; sys.exit(0 if zmq.has('curve') else 3)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "python3 cannot be started (\(error)); the pyzmq client tests need python3 with pyzmq"
        }
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0: return nil
        case 3: return "pyzmq's libzmq has no CURVE support; the pyzmq client tests need it"
        case 127: return "no python3 on PATH; the pyzmq client tests need python3 with pyzmq"
        default:
            return
                "python3 -c 'import zmq' failed: pyzmq is not installed (apt-get install python3-zmq, or scripts/ensure-deps.sh)"
        }
    }()

    /// The fixture script.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/curve_subscriber.py").path
}

/// A child process other than `flowpool` (python3), its output in files.
final class ChildProcess: Sendable {
    let name: String
    private let process: Process
    let stdoutPath: String
    let stderrPath: String

    init(name: String, executable: String, arguments: [String], directory: String) throws {
        self.name = name
        stdoutPath = "\(directory)/\(name).out"
        stderrPath = "\(directory)/\(name).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        self.process = process
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// The exit status, or nil when the process still runs after `seconds`.
    func waitForExit(seconds: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Waits until a line of its output is `line`.
    func waitForLine(_ line: String, onStandardError: Bool, seconds: Double) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let text = onStandardError ? stderr : stdout
            if text.split(separator: "\n").contains(Substring(line)) { return }
            guard process.isRunning else {
                throw HarnessError("\(name) exited (\(process.terminationStatus)) before \"\(line)\": \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("\(name) did not print \"\(line)\" within \(seconds) s: \(stderr)")
    }

    /// SIGKILL when it still runs (Foundation reaps it).
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

/// A coordinator with CURVE keys and one worker, as processes on loopback with ephemeral ports; the key files and
/// the allow-list in a temporary directory:
///
/// | key | role | namespaces | made by |
/// |---|---|---|---|
/// | coordinator | — | — | pyzmq |
/// | worker-a | worker | — | pyzmq |
/// | app | client | support, sales_* | flowpool |
/// | watcher | subscriber | support | flowpool |
/// | stranger | not in the list | — | pyzmq |
struct CurvePool {
    let directory: String
    let control: String

    func key(_ name: String) -> String { "\(directory)/\(name).key_secret" }
    var coordinatorKey: String { "\(directory)/coordinator.key" }

    /// Starts the fixture script with this pool's control endpoint and coordinator key, and `arguments`.
    func python(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(
            name: name,
            executable: "/usr/bin/env",
            arguments: ["python3", "-u", PyZMQ.script, "--control", control, "--coordinator-key", coordinatorKey]
                + arguments,
            directory: directory
        )
    }

    /// A client with the `app` key.
    func client() async throws -> PoolClient {
        try await PoolClient.connect(
            to: control,
            timeout: .seconds(10),
            keys: try PoolKeys.load(keyFile: key("app"), coordinatorKey: coordinatorKey)
        )
    }

    /// Makes the keys, starts the coordinator and the worker, waits until the worker is registered, runs `body`,
    /// and stops and reaps both processes, also when something failed.
    static func with(_ body: (CurvePool) async throws -> Void) async throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: PoolHarness.executable),
            "flowpool not built at \(PoolHarness.executable)"
        )
        let directory = NSTemporaryDirectory() + "flowpool-pycurve-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await makeKeys(directory)

        let endpointsFile = "\(directory)/endpoints.json"
        let coordinator = try PoolProcess(
            name: "coordinator",
            arguments: [
                "coordinator", "--bind-host", "127.0.0.1", "--control-port", "0", "--worker-port", "0",
                "--events-in-port", "0", "--events-out-port", "0", "--endpoints-file", endpointsFile,
                "--key-file", "\(directory)/coordinator.key_secret", "--allow-file", "\(directory)/allow.list",
                "--heartbeat-timeout-ms", "2000", "--log-level", "warning",
            ],
            directory: directory
        )
        var worker: PoolProcess?
        do {
            let control = try await waitForControl(endpointsFile, coordinator)
            let pool = CurvePool(directory: directory, control: control)
            worker = try PoolProcess(
                name: "worker",
                arguments: [
                    "worker", "--coordinator", control, "--key-file", pool.key("worker-a"), "--coordinator-key",
                    pool.coordinatorKey, "--heartbeat-ms", "100", "--log-level", "warning",
                ],
                directory: directory
            )
            let client = try await pool.client()
            let deadline = ContinuousClock.now + .seconds(30)
            while try await client.status()["workers"]?.arrayValue?.count != 1 {
                guard ContinuousClock.now < deadline else {
                    await client.close()
                    throw HarnessError("the worker did not register: \(worker?.stderr ?? "")")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            await client.close()
            try await body(pool)
        } catch {
            await worker?.stop(grace: 5)
            await coordinator.stop(grace: 5)
            print("---- coordinator\n\(coordinator.stderr)\n---- worker\n\(worker?.stderr ?? "")")
            throw error
        }
        await worker?.stop(grace: 5)
        await coordinator.stop(grace: 5)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The key files and the allow-list (see the table above).
    private static func makeKeys(_ directory: String) async throws {
        let generator = try ChildProcess(
            name: "keys",
            executable: "/usr/bin/env",
            arguments: [
                "python3", "-c",
                "import os, sys, zmq.auth\nfor n in sys.argv[2:]: os.chmod(zmq.auth.create_certificates(sys.argv[1], n)[1], 0o600)",
                directory, "coordinator", "worker-a", "stranger",
            ],
            directory: directory
        )
        defer { generator.kill() }
        let status = await generator.waitForExit(seconds: 30)
        guard status == 0 else {
            throw HarnessError(
                "zmq.auth.create_certificates failed (\(String(describing: status))): \(generator.stderr)"
            )
        }
        var lines = ["# name  role  public key  namespaces"]
        lines.append("worker-a worker \(try CertificateFile.load(path: "\(directory)/worker-a.key").publicKey)")
        for (name, role, namespaces) in [("app", "client", "support,sales_*"), ("watcher", "subscriber", "support")] {
            let keys = try CurveKeyPair.generate()
            let file = CertificateFile(
                publicKey: keys.publicKey,
                secretKey: keys.secretKey,
                metadata: ["name": name, "role": role, "namespaces": namespaces]
            )
            _ = try file.write(name: name, directory: directory)
            lines.append("\(name) \(role) \(keys.publicKey) \(namespaces)")
        }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: "\(directory)/allow.list",
            atomically: true,
            encoding: .utf8
        )
    }

    private static func waitForControl(_ path: String, _ coordinator: PoolProcess) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: path),
                let control = (try? JSONValue(wireBytes: Array(data)))?["control"]?.stringValue
            {
                return control
            }
            guard coordinator.isRunning else { throw HarnessError("coordinator exited: \(coordinator.stderr)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("coordinator did not write \(path) in time: \(coordinator.stderr)")
    }
}

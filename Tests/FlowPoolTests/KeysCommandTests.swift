import FlowPool
import Foundation
import Testing
import ZeroMQ

/// `flowpool keys new` and `keys show`, run as the real executable: the files it writes, the allow-list lines it
/// prints and appends, and what it refuses without writing anything.
@Suite("Keys command")
struct KeysCommandTests {
    /// What a run of the command left.
    struct Outcome: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// A temporary directory for one test, removed by `body`'s end.
    static func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "flowpool-keys-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    /// Runs `flowpool ARGUMENTS` in `directory` and waits for it.
    static func flowpool(_ arguments: [String], in directory: String) throws -> Outcome {
        let stdoutPath = "\(directory)/.stdout-\(UUID().uuidString.prefix(6))"
        let stderrPath = "\(directory)/.stderr-\(UUID().uuidString.prefix(6))"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: stdoutPath)
            try? FileManager.default.removeItem(atPath: stderrPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PoolHarness.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FLOWPOOL_") }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        )
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int)
    }

    static func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// The files in `directory` other than the command's captured output.
    static func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".std") }.sorted()
    }

    /// The value of `    NAME = "VALUE"` lines, as pyzmq's `zmq.auth.load_certificate` reads them.
    static func zplValue(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("    \(name) = \"") && line.hasSuffix("\"") {
            return String(line.dropFirst("    \(name) = \"".count).dropLast())
        }
        return nil
    }

    @Test("a client key: its two files, their modes and text, and an allow-list line with its public key")
    func clientKey() throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(
                [
                    "keys", "new", "support-app", "--role", "client", "--namespaces", "support,sales_*", "--out-dir",
                    "k",
                ],
                in: directory
            )
            #expect(made.status == 0, "\(made)")
            let publicPath = "\(directory)/k/support-app.key"
            let secretPath = "\(directory)/k/support-app.key_secret"
            #expect(try Self.mode(secretPath) == 0o600)
            #expect(try Self.mode(publicPath) == 0o644)

            // ZPL text: a `curve` section with `public-key` (both files) and `secret-key` (the secret file only).
            let publicText = try #require(Self.contents(publicPath))
            let secretText = try #require(Self.contents(secretPath))
            #expect(publicText.split(separator: "\n").contains("curve"))
            let publicKey = try #require(Self.zplValue("public-key", in: publicText))
            #expect(Self.zplValue("secret-key", in: publicText) == nil, "no secret in the public file")
            #expect(Self.zplValue("public-key", in: secretText) == publicKey)
            let secretKey = try #require(Self.zplValue("secret-key", in: secretText))
            #expect(secretKey.utf8.count == 40 && publicKey.utf8.count == 40)
            #expect(Self.zplValue("name", in: publicText) == "support-app")
            #expect(Self.zplValue("role", in: publicText) == "client")
            #expect(Self.zplValue("namespaces", in: publicText) == "support,sales_*")

            // The printed line is an allow-list line of the file's public key.
            let list = try AllowList(parsing: made.stdout)
            let entry = try #require(list.entries.first)
            #expect(list.entries.count == 1)
            #expect(entry.name == "support-app" && entry.role == .client)
            #expect(entry.publicKey == publicKey)
            #expect(entry.namespaces.map(\.description) == ["support", "sales_*"])
            #expect(try CertificateFile.loadKeyPair(path: secretPath).publicKey == publicKey)
        }
    }

    @Test("pyzmq's zmq.auth.load_certificate reads both files", .enabled(if: pythonHasZeroMQ))
    func pyzmqReadsTheFiles() throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(["keys", "new", "worker-a", "--role", "worker"], in: directory)
            #expect(made.status == 0, "\(made)")
            let script = """
                import sys, zmq.auth
                public, _ = zmq.auth.load_certificate(sys.argv[1] + ".key")
                public2, secret = zmq.auth.load_certificate(sys.argv[1] + ".key_secret")
                print(public.decode(), public2.decode(), secret.decode())
                """
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", "-c", script, "\(directory)/worker-a"]
            let output = Pipe()
            python.standardOutput = output
            try python.run()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            python.waitUntilExit()
            #expect(python.terminationStatus == 0)
            let keys = printed.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let pair = try CertificateFile.loadKeyPair(path: "\(directory)/worker-a.key_secret")
            #expect(keys == [pair.publicKey, pair.publicKey, pair.secretKey])
            #expect(made.stdout == "worker-a worker \(pair.publicKey)\n")
        }
    }

    @Test("two keys appended to one allow-list file, created with a header")
    func twoKeysInOneAllowFile() throws {
        try Self.withDirectory { directory in
            let allow = "\(directory)/etc/allow.list"
            let first = try Self.flowpool(
                ["keys", "new", "worker-a", "--role", "worker", "--out-dir", "keys", "--allow-file", allow],
                in: directory
            )
            #expect(first.status == 0, "\(first)")
            let second = try Self.flowpool(
                [
                    "keys", "new", "dashboard", "--role", "subscriber", "--namespaces", "*", "--out-dir", "keys",
                    "--allow-file", allow,
                ],
                in: directory
            )
            #expect(second.status == 0, "\(second)")
            let text = try #require(Self.contents(allow))
            #expect(text.hasPrefix("# "), "a header says what the file is")
            let list = try AllowList.load(path: allow)
            #expect(list.entries.map(\.name) == ["worker-a", "dashboard"])
            #expect(list.entries.map(\.role) == [.worker, .subscriber])
            for entry in list.entries {
                let file = try CertificateFile.load(path: "\(directory)/keys/\(entry.name).key")
                #expect(entry.publicKey == file.publicKey)
            }
            #expect(text.hasSuffix(first.stdout + second.stdout), "the printed lines are the appended ones")
        }
    }

    @Test("a name already in the allow-list is refused, and nothing is written")
    func duplicateNameRefused() throws {
        try Self.withDirectory { directory in
            let allow = "\(directory)/allow.list"
            let first = try Self.flowpool(
                ["keys", "new", "app", "--role", "client", "--namespaces", "support", "--allow-file", allow],
                in: directory
            )
            #expect(first.status == 0, "\(first)")
            let before = Self.contents(allow)
            let again = try Self.flowpool(
                [
                    "keys", "new", "app", "--role", "client", "--namespaces", "sales", "--out-dir", "other",
                    "--allow-file", allow,
                ],
                in: directory
            )
            #expect(again.status != 0, "\(again)")
            #expect(again.stderr.contains("\"app\" is already in the list"), "\(again)")
            #expect(again.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/other"), "no key file written")
            #expect(Self.contents(allow) == before, "the allow-list is unchanged")
        }
    }

    @Test("an existing key file is refused, and nothing is overwritten or appended")
    func existingKeyFileRefused() throws {
        try Self.withDirectory { directory in
            let first = try Self.flowpool(["keys", "new", "worker-a", "--role", "worker"], in: directory)
            #expect(first.status == 0, "\(first)")
            let secret = Self.contents("\(directory)/worker-a.key_secret")
            let again = try Self.flowpool(
                ["keys", "new", "worker-a", "--role", "worker", "--allow-file", "allow.list"],
                in: directory
            )
            #expect(again.status != 0, "\(again)")
            #expect(again.stderr.contains("worker-a.key exists already"), "\(again)")
            #expect(Self.contents("\(directory)/worker-a.key_secret") == secret, "the old key is kept")
            #expect(try Self.files(directory) == ["worker-a.key", "worker-a.key_secret"], "no allow-list made")
        }
    }

    @Test("an allow-list that does not parse is refused, naming its line, before any key file is written")
    func brokenAllowFileRefused() throws {
        try Self.withDirectory { directory in
            let allow = "\(directory)/allow.list"
            let broken = "# keys\nworker-a worker not-a-key\n"
            try broken.write(toFile: allow, atomically: true, encoding: .utf8)
            let made = try Self.flowpool(
                ["keys", "new", "worker-b", "--role", "worker", "--allow-file", allow],
                in: directory
            )
            #expect(made.status != 0, "\(made)")
            #expect(made.stderr.contains("line 2"), "\(made)")
            #expect(try Self.files(directory) == ["allow.list"], "no key file written")
            #expect(Self.contents(allow) == broken)
        }
    }

    @Test("when the allow-list cannot be written after all, the key files are taken back")
    func failedAppendTakesKeysBack() throws {
        try Self.withDirectory { directory in
            // A file where the allow-list's directory should be: found only when the line is appended.
            try "".write(toFile: "\(directory)/plain", atomically: true, encoding: .utf8)
            let made = try Self.flowpool(
                ["keys", "new", "worker-a", "--role", "worker", "--out-dir", "k", "--allow-file", "plain/allow.list"],
                in: directory
            )
            #expect(made.status != 0, "\(made)")
            #expect(made.stderr.contains("plain/allow.list"), "\(made)")
            #expect(made.stdout.isEmpty)
            #expect(try Self.files(directory) == ["plain"], "no key file and no --out-dir left")
        }
    }

    @Test(
        "namespaces are required for clients and subscribers, refused for workers and the coordinator",
        arguments: [
            (["--role", "client"], "--namespaces"),
            (["--role", "subscriber"], "--namespaces"),
            (["--role", "client", "--namespaces", "a/b"], "--namespaces"),
            (["--role", "worker", "--namespaces", "support"], "--namespaces"),
            (["--role", "coordinator", "--namespaces", "support"], "--namespaces"),
            (["--role", "coordinator", "--allow-file", "allow.list"], "--allow-file"),
            (["--role", "admin"], "--role"),
        ]
    )
    func badFlagsRefused(flags: [String], mentioned: String) throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(["keys", "new", "app"] + flags, in: directory)
            #expect(made.status != 0, "\(made)")
            #expect(made.stderr.contains(mentioned), "\(made)")
            #expect(try Self.files(directory).isEmpty, "nothing written")
        }
    }

    @Test("a name that cannot be an allow-list name is refused")
    func badNameRefused() throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(["keys", "new", "../x", "--role", "worker"], in: directory)
            #expect(made.status != 0, "\(made)")
            #expect(made.stderr.contains("A-Z a-z 0-9"), "\(made)")
            #expect(try Self.files(directory).isEmpty)
        }
    }

    @Test("the coordinator's key: its public key on stdout, usable as every peer's --coordinator-key")
    func coordinatorKey() throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(["keys", "new", "coordinator", "--role", "coordinator"], in: directory)
            #expect(made.status == 0, "\(made)")
            #expect(made.stderr.contains("--coordinator-key"), "\(made)")
            let file = try CertificateFile.load(path: "\(directory)/coordinator.key")
            #expect(made.stdout == file.publicKey + "\n")
            #expect(file.metadata["role"] == "coordinator")
            #expect(try Self.mode("\(directory)/coordinator.key_secret") == 0o600)

            let peer = try Self.flowpool(["keys", "new", "w", "--role", "worker"], in: directory)
            #expect(peer.status == 0, "\(peer)")
            let keys = try PoolKeys.load(
                keyFile: "\(directory)/w.key_secret",
                coordinatorKey: "\(directory)/coordinator.key"
            )
            #expect(keys.coordinatorKey == file.publicKey)
        }
    }

    @Test("keys show prints the public key, the metadata and the allow-list line, never the secret")
    func show() throws {
        try Self.withDirectory { directory in
            let made = try Self.flowpool(
                ["keys", "new", "dash", "--role", "subscriber", "--namespaces", "sales_*"],
                in: directory
            )
            #expect(made.status == 0, "\(made)")
            let pair = try CertificateFile.loadKeyPair(path: "\(directory)/dash.key_secret")
            for file in ["dash.key", "dash.key_secret"] {
                let shown = try Self.flowpool(["keys", "show", file], in: directory)
                #expect(shown.status == 0, "\(shown)")
                #expect(shown.stdout.contains("public-key: \(pair.publicKey)"), "\(shown)")
                #expect(shown.stdout.contains("role: subscriber"), "\(shown)")
                #expect(shown.stdout.contains("allow-list line: \(made.stdout)"), "\(shown)")
                #expect(!shown.stdout.contains(pair.secretKey))
            }
            let missing = try Self.flowpool(["keys", "show", "nope.key"], in: directory)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("nope.key"), "\(missing)")
        }
    }
}

/// Whether `python3` with pyzmq is on this machine.
private let pythonHasZeroMQ: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import zmq.auth"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

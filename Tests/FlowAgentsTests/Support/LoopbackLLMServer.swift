import Foundation
import Synchronization

/// The loopback OpenAI-compatible server of `Fixtures/openai_stub_server.py`, run as a child process.
///
/// ``with(_:)`` starts it, waits (with a deadline) for the port it prints, runs the body, and always
/// terminates and reaps the process, also when the body throws.
enum LoopbackLLMServer {
    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    static var scriptURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/openai_stub_server.py")
    }

    static func with<T>(_ body: (URL) async throws -> T) async throws -> T {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", scriptURL.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        let exited = ExitSignal()
        process.terminationHandler = { _ in exited.fire() }
        try process.run()
        let outcome: Result<T, any Error>
        do {
            let port = try await readPort(stdout.fileHandleForReading, deadline: .seconds(20))
            outcome = .success(try await body(URL(string: "http://127.0.0.1:\(port)/v1")!))
        } catch {
            outcome = .failure(error)
        }
        // Always stop and reap the child: SIGTERM, then SIGKILL if it has not exited within 5 s.
        let pid = process.processIdentifier
        process.terminate()
        let killer = Task {
            try await Task.sleep(for: .seconds(5))
            kill(pid, SIGKILL)
        }
        await exited.wait()
        killer.cancel()
        stdout.fileHandleForReading.readabilityHandler = nil
        return try outcome.get()
    }

    /// The first line the server prints, parsed as a port, within `deadline`.
    private static func readPort(_ handle: FileHandle, deadline: Duration) async throws -> Int {
        let line = LineWaiter()
        handle.readabilityHandler = { h in
            let data = h.availableData
            line.append(data, eof: data.isEmpty)
        }
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while clock.now < end {
            if let text = line.firstLine {
                guard let port = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw StartError(description: "stub server printed '\(text)' instead of a port")
                }
                return port
            }
            if line.ended { throw StartError(description: "stub server exited before printing its port") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw StartError(description: "stub server did not print its port within \(deadline)")
    }
}

/// Collects a child's output until its first line.
private final class LineWaiter: Sendable {
    private let state = Mutex<(buffer: Data, ended: Bool)>((Data(), false))

    func append(_ data: Data, eof: Bool) {
        state.withLock {
            $0.buffer.append(data)
            if eof { $0.ended = true }
        }
    }

    var firstLine: String? {
        state.withLock { s in
            guard let newline = s.buffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            return String(decoding: s.buffer[..<newline], as: UTF8.self)
        }
    }

    var ended: Bool { state.withLock { $0.ended } }
}

/// Signals a child's exit (from Process's termination handler) to an awaiting task.
private final class ExitSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { s in
            s.fired = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let fired = state.withLock { s in
                if s.fired { return true }
                s.waiters.append(continuation)
                return false
            }
            if fired { continuation.resume() }
        }
    }
}

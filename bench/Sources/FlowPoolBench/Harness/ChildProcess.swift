import Foundation
import Synchronization

/// One spawned `flowpool` process, its output captured in files, always reaped.
final class ChildProcess: Sendable {
    let name: String
    let pid: Int32
    let stderrPath: String
    private let process: Process
    private final class ExitState: Sendable {
        let value = Mutex<Int32?>(nil)
    }
    private let exitState = ExitState()

    /// Starts `executable` with `arguments`; standard output and error go to files in `directory`.
    init(name: String, executable: String, arguments: [String], directory: String) throws {
        self.name = name
        let stdoutPath = "\(directory)/\(name).out"
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
        let exitState = self.exitState
        process.terminationHandler = { p in
            let status = p.terminationStatus
            exitState.value.withLock { $0 = status }
        }
        try process.run()
        pid = process.processIdentifier
    }

    var isRunning: Bool { exitState.value.withLock { $0 == nil } }

    /// Sends `sig` if the process still runs.
    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// The exit status, or nil if the process still runs after `seconds`.
    func waitForExit(seconds: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if let status = exitState.value.withLock({ $0 }) { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exitState.value.withLock { $0 }
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; waits until the process is reaped.
    func stop(grace: Double = 5) async {
        guard isRunning else { return }
        signal(SIGTERM)
        if await waitForExit(seconds: grace) == nil {
            signal(SIGKILL)
            _ = await waitForExit(seconds: 10)
        }
    }

    /// SIGKILL and wait until reaped.
    func killNow() async {
        signal(SIGKILL)
        _ = await waitForExit(seconds: 10)
    }

    /// The last lines of standard error.
    func stderrTail(_ lines: Int = 10) -> String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

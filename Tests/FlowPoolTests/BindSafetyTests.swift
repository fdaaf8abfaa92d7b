import FlowCore
import FlowPool
import Foundation
import Testing

/// Without authentication the coordinator listens on loopback unless told, in so many words, to do otherwise.
@Suite("Bind safety", .serialized)
struct BindSafetyTests {
    /// The local addresses (hex, as /proc/net/tcp writes them) of the listening TCP sockets on `port`.
    static func listeners(port: Int) -> [String] {
        // Read to the end in chunks: a /proc file has no size, and it is long on a busy machine.
        var bytes: [UInt8] = []
        let fd = open("/proc/net/tcp", O_RDONLY)
        if fd >= 0 {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            close(fd)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let wanted = String(format: "%04X", port)
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 3, fields[3] == "0A" else { return nil }  // LISTEN
            let local = fields[1].split(separator: ":")
            guard local.count == 2, local[1] == wanted else { return nil }
            return String(local[0])
        }
    }

    func start(_ extra: [String], directory: String) throws -> (PoolProcess, String) {
        let endpoints = "\(directory)/endpoints-\(UUID().uuidString.prefix(4)).json"
        let process = try PoolProcess(
            name: "coordinator-\(UUID().uuidString.prefix(4))",
            arguments: [
                "coordinator", "--control-port", "0", "--worker-port", "0", "--events-in-port", "0",
                "--events-out-port", "0", "--endpoints-file", endpoints, "--log-level", "warning",
            ] + extra,
            directory: directory
        )
        return (process, endpoints)
    }

    func ports(_ endpointsFile: String, _ process: PoolProcess) async throws -> [Int] {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: endpointsFile), !data.isEmpty {
                let json = try JSONValue(wireBytes: Array(data))
                return ["control", "workers", "events_in", "events_out"].compactMap { key in
                    json[key]?.stringValue?.split(separator: ":").last.flatMap { Int($0) }
                }
            }
            guard process.isRunning else { throw HarnessError("coordinator exited: \(process.stderr)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("no endpoints file")
    }

    @Test("with default flags every socket listens on 127.0.0.1 only")
    func loopbackByDefault() async throws {
        guard FileManager.default.fileExists(atPath: "/proc/net/tcp") else {
            throw HarnessError("no /proc/net/tcp on this system: the listening addresses cannot be read")
        }
        let directory = NSTemporaryDirectory() + "flowpool-bind-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (coordinator, endpoints) = try start([], directory: directory)
        defer { coordinator.signal(SIGKILL) }
        let ports = try await ports(endpoints, coordinator)
        #expect(ports.count == 4)
        for port in ports {
            #expect(Self.listeners(port: port) == ["0100007F"], "port \(port): \(Self.listeners(port: port))")
        }
        await coordinator.stop(grace: 5)
    }

    @Test("another address needs --insecure, and is then bound with a warning")
    func otherAddressNeedsInsecure() async throws {
        let directory = NSTemporaryDirectory() + "flowpool-bind-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (refused, _) = try start(["--bind-host", "0.0.0.0"], directory: directory)
        defer { refused.signal(SIGKILL) }
        let status = await refused.waitForExit(seconds: 20)
        #expect(status != nil && status != 0, "it refused to start")
        #expect(refused.stderr.contains("--insecure"), "\(refused.stderr)")

        let (insecure, endpoints) = try start(["--bind-host", "0.0.0.0", "--insecure"], directory: directory)
        defer { insecure.signal(SIGKILL) }
        let ports = try await ports(endpoints, insecure)
        #expect(Self.listeners(port: ports[0]) == ["00000000"], "bound to every address as asked")
        #expect(insecure.stderr.contains("INSECURE"), "\(insecure.stderr)")
        await insecure.stop(grace: 5)
    }
}

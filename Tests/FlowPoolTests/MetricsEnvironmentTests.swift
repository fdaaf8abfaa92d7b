import Foundation
import Subprocess
import SystemPackage
import Testing

/// `FLOWPOOL_METRICS_PORT` names one port, so `flowpool demo` and the load harness, which start several
/// processes on one host, do not pass it on to them.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct MetricsEnvironmentTests {
    /// Runs `executable arguments` with FLOWPOOL_METRICS_PORT naming a port this process listens on: a child
    /// that inherited it could not start.
    static func runWithTakenMetricsPort(
        _ executable: String,
        _ arguments: [String]
    ) async throws -> (status: TerminationStatus, output: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(listening, "cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))")
        let port = UInt16(bigEndian: address.sin_port)
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating([
                "FLOWPOOL_METRICS_PORT": String(port), "FLOWPOOL_METRICS_HOST": "127.0.0.1",
            ]),
            input: .none,
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 20)
        )
        return (result.terminationStatus, result.standardOutput + result.standardError)
    }

    @Test func theDemoDoesNotPassAMetricsPortOnToItsProcesses() async throws {
        let (status, output) = try await Self.runWithTakenMetricsPort(
            PoolHarness.executable,
            ["demo", "--no-color", "--questions", "1", "--token-delay-ms", "0", "--log-level", "warning", "--no-web"]
        )
        #expect(status == .exited(0), "\(output.suffix(2000))")
    }

    @Test func theLoadHarnessDoesNotPassAMetricsPortOnToItsProcesses() async throws {
        let bench = BenchHarnessTests.buildDirectory.appendingPathComponent("flowpool-bench").path
        let (status, output) = try await Self.runWithTakenMetricsPort(
            bench,
            [
                "load", "--quick", "--runs", "300", "--in-flight", "32", "--baseline-messages", "0",
                "--flowpool", PoolHarness.executable,
            ]
        )
        #expect(status == .exited(0), "\(output.suffix(2000))")
        #expect(output.contains("verified     yes"), "\(output.suffix(2000))")
    }
}

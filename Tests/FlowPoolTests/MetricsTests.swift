import FlowCore
import FlowPool
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `flowpool coordinator --metrics-port`: Prometheus text on `GET /metrics`, from a real process.
@Suite("Metrics endpoint", .serialized, .timeLimit(.minutes(1)))
struct MetricsTests {
    @Test("the coordinator serves its counters and gauges as Prometheus text, matching status")
    func coordinatorMetrics() async throws {
        try await PoolHarness.with(workers: 1, coordinatorArguments: ["--metrics-port", "0"]) { pool in
            let port = try #require(pool.endpoints["metrics_port"]?.intValue, "the endpoints file names the port")
            try await PoolClient.withConnection(to: pool.control) { client in
                for i in 0..<5 {
                    _ = try await client.run("agent4", namespace: "metrics", input: ["question": .string("q\(i)")])
                }
            }
            #expect(try await pool.counter("jobs_completed") == 5)
            var text = ""
            try await pool.until(seconds: 10, "the metrics to count 5 completed runs") {
                text = try await httpGet(port: port, path: "/metrics")
                return text.contains("\nflowpool_coordinator_jobs_completed_total 5\n")
            }
            #expect(text.hasPrefix("HTTP/1.1 200 OK"))
            #expect(text.contains("# TYPE flowpool_coordinator_jobs_completed_total counter"))
            #expect(text.contains("\nflowpool_coordinator_events_forwarded_total 65\n"))
            #expect(text.contains("\nflowpool_coordinator_workers 1.0\n"), "a gauge: the workers connected")
            let other = try await httpGet(port: port, path: "/")
            #expect(other.hasPrefix("HTTP/1.1 404"))
            #expect(try await httpGet(port: port, path: "/healthz").hasPrefix("HTTP/1.1 200"))
            #expect(try await httpGet(port: port, path: "/readyz").hasSuffix("ok: serving\n"))
        }
    }

    /// The port a process printed as its `metrics` line.
    static func metricsPort(of process: PoolProcess, in pool: PoolHarness) async throws -> Int {
        var port: Int?
        try await pool.until(seconds: 20, "the metrics line of \(process.name)") {
            let line = process.stdout.split(separator: "\n").first { $0.hasPrefix("metrics") }
            port = line.flatMap { Int($0.split(separator: ":").last?.split(separator: "/").first ?? "") }
            return port != nil
        }
        return port!
    }

    @Test("a worker's /readyz says whether it is registered; /healthz whether its runtime makes progress")
    func workerProbes() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            let worker = try pool.startWorker(["--metrics-port", "0"])
            let port = try await Self.metricsPort(of: worker, in: pool)
            try await pool.until(seconds: 20, "the worker ready") {
                try await httpGet(port: port, path: "/readyz").hasPrefix("HTTP/1.1 200")
            }
            #expect(try await httpGet(port: port, path: "/healthz").hasPrefix("HTTP/1.1 200"))
            // One whose coordinator does not answer is alive but not ready, and says why.
            let lonely = try PoolProcess(
                name: "lonely-worker",
                arguments: ["worker", "--coordinator", "127.0.0.1:1", "--metrics-port", "0", "--log-level", "error"],
                directory: pool.directory
            )
            defer { Task { await lonely.stop(grace: 2) } }
            let lonelyPort = try await Self.metricsPort(of: lonely, in: pool)
            #expect(try await httpGet(port: lonelyPort, path: "/healthz").hasPrefix("HTTP/1.1 200"))
            let ready = try await httpGet(port: lonelyPort, path: "/readyz")
            #expect(ready.hasPrefix("HTTP/1.1 503") && ready.contains("not registered"), "\(ready)")
            await lonely.stop(grace: 5)
        }
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1, on a thread of its own (the socket calls block); returns the whole
/// response, head and body.
func httpGet(port: Int, path: String) async throws -> String {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
        let thread = Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                continuation.resume(throwing: HarnessError("cannot connect to 127.0.0.1:\(port): errno \(errno)"))
                return
            }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var response: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                response += chunk[0..<n]
            }
            continuation.resume(returning: String(decoding: response, as: UTF8.self))
        }
        thread.start()
    }
}

import ArgumentParser
import Foundation
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `--metrics-port`: bootstraps swift-metrics with a Prometheus registry and serves it as text on
/// `GET /metrics` over plain HTTP.
///
/// A `Service` with one thread of its own that accepts one connection at a time (a scrape endpoint, not a
/// web server): it reads the request head (at most 8 KiB, 2 s), answers `/metrics` with the registry's
/// exposition text, anything else with 404, and closes the connection.
package struct MetricsEndpoint: Service {
    /// The bound socket and its port.
    package let listener: Int32
    package let port: Int
    package let registry: PrometheusCollectorRegistry
    /// What `/healthz` (liveness) and `/readyz` (readiness) answer; both "ok" until set.
    package let probes = HealthProbes()

    /// The liveness and readiness checks the endpoint serves.
    package final class HealthProbes: Sendable {
        package typealias Check = @Sendable () -> (ok: Bool, detail: String)
        private let checks = Mutex<(live: Check, ready: Check)>(({ (true, "up") }, { (true, "up") }))

        package func set(live: @escaping Check, ready: @escaping Check) { checks.withLock { $0 = (live, ready) } }
        var live: (ok: Bool, detail: String) { checks.withLock { $0.live }() }
        var ready: (ok: Bool, detail: String) { checks.withLock { $0.ready }() }
    }

    /// Bootstraps the metrics system and binds `host:port` (port 0: any free port).
    /// - Throws: `MetricsEndpointError` when the address cannot be bound.
    package static func bootstrap(host: String, port: Int) throws -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsEndpointError("socket() failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "*" ? "0.0.0.0" : host, &address.sin_addr) == 1 else {
            close(fd)
            throw MetricsEndpointError("--bind-host \(host) is not an IPv4 address the metrics port can bind")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw MetricsEndpointError(
                "cannot listen on \(host):\(port) for metrics (errno \(code)); choose another --metrics-port"
            )
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return MetricsEndpoint(
            listener: fd,
            port: Int(UInt16(bigEndian: actual.sin_port)),
            registry: registry
        )
    }

    package func run() async throws {
        let stop = StopFlag()
        let finished = AsyncStream<Void>.makeStream()
        let thread = Thread { [listener, registry, probes] in
            Self.serve(listener, registry: registry, probes: probes, stop: stop)
            finished.continuation.finish()
        }
        thread.name = "fp-metrics"
        thread.start()
        await withGracefulShutdownHandler {
            for await _ in finished.stream {}
        } onGracefulShutdown: {
            stop.flag.store(true, ordering: .relaxed)
        }
        // Cancelled rather than shut down gracefully: the thread stops within one poll interval.
        stop.flag.store(true, ordering: .relaxed)
    }

    final class StopFlag: Sendable {
        let flag = Atomic<Bool>(false)
    }

    /// Accepts and answers connections until `stop` is set (checked every 200 ms), then closes the listener.
    private static func serve(
        _ listener: Int32,
        registry: PrometheusCollectorRegistry,
        probes: HealthProbes,
        stop: StopFlag
    ) {
        while !stop.flag.load(ordering: .relaxed) {
            var item = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&item, 1, 200) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            answer(connection, registry: registry, probes: probes)
            close(connection)
        }
        close(listener)
    }

    private static func answer(_ connection: Int32, registry: PrometheusCollectorRegistry, probes: HealthProbes) {
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while head.count < 8192 {
            let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            head += chunk[0..<n]
            if contains(head, end) { break }
        }
        let requestLine = String(decoding: head.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = requestLine.split(separator: " ")
        let body: [UInt8]
        let status: String
        let type: String
        let path = parts.count >= 2 && parts[0] == "GET" ? parts[1].prefix { $0 != "?" } : ""
        switch path {
        case "/metrics":
            status = "200 OK"
            type = "text/plain; version=0.0.4; charset=utf-8"
            body = registry.emitToBuffer()
        case "/healthz", "/readyz":
            let check = path == "/healthz" ? probes.live : probes.ready
            status = check.ok ? "200 OK" : "503 Service Unavailable"
            type = "text/plain; charset=utf-8"
            body = Array("\(check.ok ? "ok" : "not ok"): \(check.detail)\n".utf8)
        default:
            status = "404 Not Found"
            type = "text/plain; charset=utf-8"
            body = Array("not found: this endpoint serves GET /metrics, /healthz (alive) and /readyz (ready)\n".utf8)
        }
        let header =
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let response = Array(header.utf8) + body
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes {
                send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { return }
            sent += n
        }
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        for i in 0...(bytes.count - needle.count) where bytes[i..<(i + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

/// The metrics port could not be opened.
package struct MetricsEndpointError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// `--metrics-port` and `--metrics-host`, shared by the long-running commands.
package struct MetricsOptions: ParsableArguments {
    package init() {}

    @Option(
        help:
            "Serve Prometheus metrics on GET /metrics at this port (env FLOWPOOL_METRICS_PORT; 0 = any free port; default: off)."
    )
    package var metricsPort: Int?

    @Option(help: "Address the metrics port binds (env FLOWPOOL_METRICS_HOST).")
    package var metricsHost: String = Environment.string("FLOWPOOL_METRICS_HOST") ?? "0.0.0.0"

    /// Removes the metrics variables from the environment of processes started together on one host (the
    /// demo's), since one port cannot serve them all.
    package static let notInherited: [String: String?] = ["FLOWPOOL_METRICS_PORT": nil, "FLOWPOOL_METRICS_HOST": nil]

    /// The port from the flag, else from the environment.
    private var port: Int? { metricsPort ?? Environment.int("FLOWPOOL_METRICS_PORT") }

    package func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--metrics-port must be 0…65535")
        }
    }

    /// Bootstraps metrics and binds the endpoint when a port was given; prints where it listens.
    package func endpoint() throws -> MetricsEndpoint? {
        guard let port else { return nil }
        let endpoint = try MetricsEndpoint.bootstrap(host: metricsHost, port: port)
        printFlushed("metrics    http://\(metricsHost):\(endpoint.port)/metrics")
        return endpoint
    }
}

import FlowCore
import FlowPool
import Foundation
import Testing

/// Headless Chromium, driven through chromedriver (W3C WebDriver over HTTP on loopback): Debian's `chromium` and
/// `chromium-driver`, which `scripts/ensure-deps.sh` installs.
final class Browser: Sendable {
    static let chromium = ProcessInfo.processInfo.environment["FLOWPOOL_TEST_CHROMIUM"] ?? "/usr/bin/chromium"
    static let chromedriver =
        ProcessInfo.processInfo.environment["FLOWPOOL_TEST_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"

    /// Why no browser test can run here, or nil when one can.
    static let unavailable: String? = {
        for path in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is missing (Debian packages chromium and chromium-driver; `make test` installs them)"
        }
        return nil
    }()

    private let base: String
    private let session: String

    private init(base: String, session: String) {
        self.base = base
        self.session = session
    }

    /// Starts chromedriver and one headless browser session, runs `body`, and ends both (also when it throws).
    static func with(directory: String, _ body: (Browser) async throws -> Void) async throws {
        let (driver, port) = try await startDriver(directory: directory)
        var browser: Browser?
        let profile = "\(directory)/chromium-profile"
        // chromedriver does not take its browser down when it is stopped: whatever runs with this test's profile
        // is killed after it, also when the session was never confirmed.
        defer { killProcesses(withArgument: "--user-data-dir=\(profile)") }
        do {
            let base = "http://127.0.0.1:\(port)"
            let created = try await Self.request(
                "POST",
                base + "/session",
                .object([
                    "capabilities": .object([
                        "alwaysMatch": .object([
                            "browserName": "chrome",
                            "goog:chromeOptions": .object([
                                "binary": .string(chromium),
                                "args": [
                                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                                    .string("--user-data-dir=\(profile)"),
                                ],
                            ]),
                        ])
                    ])
                ])
            )
            let session = try #require(created["sessionId"]?.stringValue, "no session id in \(created)")
            let b = Browser(base: base, session: session)
            browser = b
            try await body(b)
        } catch {
            await browser?.quit()
            await driver.stop(grace: 5)
            throw error
        }
        await browser?.quit()
        await driver.stop(grace: 5)
    }

    /// Starts chromedriver on a free port and returns it with the port. With `--port=0` chromedriver takes a free
    /// IPv6 port and then the same port on IPv4, which another process may hold ("IPv4 port not available"): it is
    /// started again then, a few times.
    private static func startDriver(directory: String) async throws -> (PoolProcess, Int) {
        for attempt in 1...5 {
            let driver = try PoolProcess(
                name: "chromedriver-\(attempt)",
                arguments: ["--port=0"],
                directory: directory,
                executable: chromedriver
            )
            do {
                return (driver, try await driverPort(driver))
            } catch {
                await driver.stop(grace: 5)
                guard attempt < 5, driver.stdout.contains("port not available") else { throw error }
            }
        }
        throw HarnessError("chromedriver found no free port")
    }

    private static func driverPort(_ driver: PoolProcess) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: driver.stdoutPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "started successfully on port ") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
            guard driver.isRunning else { throw HarnessError("chromedriver exited: \(driver.stderr) \(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("chromedriver did not start in time")
    }

    private func quit() async {
        _ = try? await Self.request("DELETE", "\(base)/session/\(session)", nil)
    }

    /// Loads `url` (returns once the page's load event fired).
    func open(_ url: String) async throws {
        _ = try await Self.request("POST", "\(base)/session/\(session)/url", .object(["url": .string(url)]))
    }

    /// Runs `script` (a function body; `arguments[i]` are its arguments) in the page and returns its value.
    @discardableResult
    func run(_ script: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await Self.request(
            "POST",
            "\(base)/session/\(session)/execute/sync",
            .object(["script": .string(script), "args": .array(arguments)])
        )
    }

    /// Evaluates `expression` in the page until it is truthy; returns its last value.
    @discardableResult
    func until(
        seconds: Double,
        _ what: String,
        _ expression: String,
        _ arguments: [JSONValue] = []
    ) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var last: JSONValue = .null
        while ContinuousClock.now < deadline {
            last = try await run("return (\(expression));", arguments)
            switch last {
            case .null, .bool(false), .int(0): break
            case .string(let s) where s.isEmpty: break
            default: return last
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("timed out in the browser waiting for \(what) (last value \(last.wireText))")
    }

    /// A PNG of the viewport.
    func screenshot() async throws -> Data {
        let value = try await Self.request("GET", "\(base)/session/\(session)/screenshot", nil)
        return try #require(Data(base64Encoded: value.stringValue ?? ""), "the screenshot is not base64")
    }

    /// One WebDriver call; returns its `value`, or throws its error.
    private static func request(_ method: String, _ url: String, _ body: JSONValue?) async throws -> JSONValue {
        let (status, data) = try await LoopbackHTTP.request(method, url, body: body.map(\.wireBytes))
        let reply = try JSONValue(wireBytes: data)
        guard status == 200 else {
            throw HarnessError("WebDriver \(method) \(url) answered \(status): \(reply.wireText.prefix(2_000))")
        }
        return reply["value"] ?? .null
    }
}

/// Sends SIGKILL to every process whose command line has `argument` (read from /proc), and waits until they are gone.
func killProcesses(withArgument argument: String) {
    let wanted = Array(argument.utf8)
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
            .filter { pid in
                pid != getpid()
                    && commandLine(of: pid).split(separator: 0, omittingEmptySubsequences: true)
                        .contains { $0.elementsEqual(wanted) }
            }
        if pids.isEmpty { return }
        for pid in pids { kill(pid, SIGKILL) }
        usleep(50_000)
    }
}

/// The NUL-separated command line of a process (empty when it is gone); read with read(2), as /proc files have no size.
private func commandLine(of pid: Int32) -> [UInt8] {
    let fd = open("/proc/\(pid)/cmdline", O_RDONLY)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4_096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return bytes }
        bytes += buffer[..<n]
    }
}

/// A minimal HTTP/1.1 client for loopback servers, on a thread of its own (chromedriver writes headers without
/// the space after the colon, which Foundation's URLSession on Linux refuses).
enum LoopbackHTTP {
    /// Sends one request (`Connection: close`) to `url` (`http://127.0.0.1:PORT/path`) and returns the status and
    /// body.
    static func request(_ method: String, _ url: String, body: [UInt8]?) async throws -> (Int, [UInt8]) {
        guard let parsed = URL(string: url), let port = parsed.port, parsed.host == "127.0.0.1" else {
            throw HarnessError("not a loopback URL: \(url)")
        }
        var head = "\(method) \(parsed.path.isEmpty ? "/" : parsed.path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        head += "Connection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        let request = Array((head + "\r\n").utf8) + (body ?? [])
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(request, port: UInt16(port)) })
            }
        }
    }

    private static func exchange(_ request: [UInt8], port: UInt16) throws -> (Int, [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HarnessError("connect to 127.0.0.1:\(port): errno \(errno)") }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError("send: errno \(errno)") }
            sent += n
        }
        // Read until the body is complete (by Content-Length) or the server closes the connection.
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = response.firstRange(of: Array("\r\n\r\n".utf8)),
                let length = contentLength(response[..<end.lowerBound]),
                response.count - end.upperBound >= length
            {
                break
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw HarnessError("recv: errno \(errno)") }
            response += buffer[..<n]
        }
        guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw HarnessError("no HTTP header in the answer")
        }
        let header = String(decoding: response[..<end.lowerBound], as: UTF8.self)
        let statusLine = header.split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var body = Array(response[end.upperBound...])
        if header.lowercased().contains("transfer-encoding: chunked")
            || header.lowercased().contains("transfer-encoding:chunked")
        {
            body = dechunk(body)
        }
        return (status, body)
    }

    private static func contentLength(_ header: ArraySlice<UInt8>) -> Int? {
        for line in String(decoding: header, as: UTF8.self).split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    private static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            guard let lineEnd = data[i...].firstRange(of: [13, 10]) else { break }
            let size = Int(String(decoding: data[i..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            out += data[start..<min(start + size, data.count)]
            i = start + size + 2
        }
        return out
    }
}

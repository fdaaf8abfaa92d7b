import Foundation
import Synchronization

/// One open web view page, as far as the server can tell: a server-sent-event stream read as it arrives (a
/// browser's EventSource), on a thread of its own with blocking reads, its messages counted and dropped.
final class WebPageReader: Sendable {
    private let counts = Mutex<(bytes: Int, messages: Int)>((0, 0))
    private let socket: Int32

    /// Opens `url` (`http://127.0.0.1:PORT/path`) and reads it until ``close()``.
    init(_ url: String) throws {
        guard let parsed = URL(string: url), let port = parsed.port, parsed.host == "127.0.0.1" else {
            throw BenchError(.setup, "not a loopback URL: \(url)")
        }
        let fd = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, connected == 0 else {
            if fd >= 0 { Foundation.close(fd) }
            throw BenchError(.setup, "cannot connect to the web view at \(url): errno \(errno)")
        }
        socket = fd
        let request = Array(
            "GET \(parsed.path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\r\n".utf8
        )
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        Thread.detachNewThread { [self] in read() }
    }

    var bytes: Int { counts.withLock { $0.bytes } }
    var messages: Int { counts.withLock { $0.messages } }

    /// Ends the page (the reading thread sees the socket shut and stops).
    func close() { shutdown(socket, Int32(SHUT_RDWR)) }

    private func read() {
        defer { Foundation.close(socket) }
        let marker = Array("data: ".utf8)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            // Each message has one "data: " line (a marker split between two reads is not counted).
            var found = 0
            var i = 0
            while let range = buffer[i..<n].firstRange(of: marker) {
                found += 1
                i = range.upperBound
            }
            counts.withLock {
                $0.bytes += n
                $0.messages += found
            }
        }
    }
}

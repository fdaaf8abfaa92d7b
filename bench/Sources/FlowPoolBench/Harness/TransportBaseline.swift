import CZeroMQ
import Foundation

/// The raw libzmq message rate on this machine, measured with the C API: one PUSH and one PULL socket over
/// TCP loopback, one sending thread and one receiving thread, as in libzmq's own `local_thr`/`remote_thr`.
///
/// The pool's figures are read against it: the transport's limit, in messages per second, at this size.
struct TransportBaseline: Sendable, Codable, Equatable {
    var messageBytes: Int
    var messages: Int
    var seconds: Double
    var messagesPerSecond: Double

    /// Sends `messages` messages of `messageBytes` bytes and times their arrival.
    ///
    /// Runs on two threads of its own (never on Swift's cooperative pool).
    static func measure(messages: Int, messageBytes: Int) async throws -> TransportBaseline {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<TransportBaseline, any Error>) in
            let thread = Thread {
                c.resume(with: Result { try measureBlocking(messages: messages, messageBytes: messageBytes) })
            }
            thread.name = "fpb-baseline"
            thread.start()
        }
    }

    private static func check(_ rc: Int32, _ what: String) throws {
        if rc != 0 {
            throw BenchError(.setup, "libzmq \(what) failed: \(String(cString: zmq_strerror(zmq_errno())))")
        }
    }

    private static func measureBlocking(messages: Int, messageBytes: Int) throws -> TransportBaseline {
        guard let ctx = zmq_ctx_new() else { throw BenchError(.setup, "zmq_ctx_new failed") }
        defer { zmq_ctx_term(ctx) }
        guard let pull = zmq_socket(ctx, ZMQ_PULL), let push = zmq_socket(ctx, ZMQ_PUSH) else {
            throw BenchError(.setup, "zmq_socket failed")
        }
        var linger: Int32 = 0
        zmq_setsockopt(push, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_setsockopt(pull, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        try check(zmq_bind(pull, "tcp://127.0.0.1:*"), "bind")
        var endpoint = [CChar](repeating: 0, count: 256)
        var size = endpoint.count
        try check(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, &endpoint, &size), "getsockopt(LAST_ENDPOINT)")
        try check(zmq_connect(push, endpoint), "connect")

        // Push the sender to its own thread; pointers to sockets are used by one thread each.
        let sender = SocketBox(push)
        let senderDone = DispatchSemaphore(value: 0)
        let senderThread = Thread {
            defer { senderDone.signal() }
            var payload = [UInt8](repeating: 0x61, count: messageBytes)
            payload.withUnsafeMutableBytes { buffer in
                for _ in 0..<messages { _ = zmq_send(sender.socket, buffer.baseAddress, messageBytes, 0) }
            }
        }
        var buffer = [UInt8](repeating: 0, count: max(messageBytes, 1))
        var received = 0
        var start: UInt64 = 0
        senderThread.start()
        buffer.withUnsafeMutableBytes { b in
            while received < messages {
                let n = zmq_recv(pull, b.baseAddress, b.count, 0)
                if n < 0 { continue }
                if received == 0 { start = MonotonicClock.now() }
                received += 1
            }
        }
        let end = MonotonicClock.now()
        senderDone.wait()
        zmq_close(push)
        zmq_close(pull)
        let seconds = MonotonicClock.seconds(from: start, to: end)
        // The first message starts the clock, so it is not counted in the rate.
        return TransportBaseline(
            messageBytes: messageBytes,
            messages: messages,
            seconds: seconds,
            messagesPerSecond: seconds > 0 ? Double(messages - 1) / seconds : 0
        )
    }

    /// A raw socket handed to the one thread that uses it.
    private final class SocketBox: @unchecked Sendable {
        // Safety: after construction only the sending thread uses `socket`; the creating thread closes it
        // only after waiting on the semaphore the sender signals when its last `zmq_send` returned.
        let socket: UnsafeMutableRawPointer
        init(_ socket: UnsafeMutableRawPointer) { self.socket = socket }
    }
}

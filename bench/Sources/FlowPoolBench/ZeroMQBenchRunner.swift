import CZeroMQ
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The messaging patterns measured by `flowpool-bench zmq`.
enum ZeroMQBenchPattern: String, CaseIterable {
    case pushPull = "PUSH/PULL"
    case pubSub = "PUB/SUB"
}

/// The measured loops: each sender and receiver runs on its own thread, never on the cooperative pool.
///
/// Every run first exchanges 1-byte warm-up messages until the receiver has one (connection set up,
/// subscription propagated), then times `count` messages from the receiver's first real message to its
/// last. High-water marks are unlimited so PUB/SUB measures throughput, not loss.
enum ZeroMQBenchRunner {
    /// Runs `body` on a new thread and waits for its result without blocking the pool.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let result = Result { try body() }
                if case .failure(let error) = result {
                    FileHandle.standardError.write(Data("benchmark thread failed: \(error)\n".utf8))
                }
                continuation.resume(with: result)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// A flag raised by the receiver when warm-up is over.
    final class Flag: Sendable {
        private let raised = Atomic<Bool>(false)
        var isRaised: Bool { raised.load(ordering: .acquiring) }
        func raise() { raised.store(true, ordering: .releasing) }
    }

    static func kinds(_ pattern: ZeroMQBenchPattern) -> (sender: SocketKind, receiver: SocketKind) {
        pattern == .pushPull ? (.push, .pull) : (.pub, .sub)
    }

    // MARK: Raw C API

    static func raw(
        _ pattern: ZeroMQBenchPattern,
        size: Int,
        count: Int,
        context rawContext: RawContext
    ) async throws -> Measurement {
        let kinds = kinds(pattern)
        let receiver = try RawSocket(rawContext, kinds.receiver.rawValue)
        var zero: Int32 = 0
        zmq_setsockopt(receiver.handle, ZMQ_RCVHWM, &zero, 4)
        if pattern == .pubSub { zmq_setsockopt(receiver.handle, ZMQ_SUBSCRIBE, nil, 0) }
        guard zmq_bind(receiver.handle, "tcp://127.0.0.1:*") == 0 else {
            throw ZeroMQError(errno: zmq_errno(), operation: "bind")
        }
        let endpoint = try receiver.lastEndpoint()
        let ready = Flag()
        let done = Flag()
        let transferred = Transferred(receiver)
        async let sent: Void = onThread {
            let sender = try RawSocket(rawContext, kinds.sender.rawValue)
            var zero: Int32 = 0
            zmq_setsockopt(sender.handle, ZMQ_SNDHWM, &zero, 4)
            zmq_connect(sender.handle, endpoint)
            var warmup: UInt8 = 0
            while !ready.isRaised {
                zmq_send(sender.handle, &warmup, 1, ZMQ_DONTWAIT)
                usleep(1000)
            }
            let payload = [UInt8](repeating: 0xAB, count: size)
            payload.withUnsafeBytes { buffer in
                for _ in 0..<count { zmq_send(sender.handle, buffer.baseAddress, size, 0) }
            }
            // Linger is 0: keep the socket open until everything has arrived.
            while !done.isRaised { usleep(1000) }
        }
        let rate = try await onThread {
            let socket = transferred.take()
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            zmq_msg_recv(&message, socket.handle, 0)
            ready.raise()
            repeat { zmq_msg_recv(&message, socket.handle, 0) } while zmq_msg_size(&message) == 1
            let start = ContinuousClock.now
            let cpuStart = processCPUSeconds()
            for _ in 1..<count { zmq_msg_recv(&message, socket.handle, 0) }
            let rate = Measurement(count: count - 1, start: start, cpuStart: cpuStart)
            done.raise()
            return rate
        }
        try await sent
        return rate
    }

    // MARK: Binding

    static func binding(
        _ pattern: ZeroMQBenchPattern,
        size: Int,
        count: Int,
        context: Context
    ) async throws -> Measurement {
        let kinds = kinds(pattern)
        let receiver = try Socket(context, kinds.receiver)
        try receiver.set(.receiveHighWaterMark(0))
        if pattern == .pubSub { try receiver.subscribe("") }
        let endpoint = try receiver.bind("tcp://127.0.0.1:*")
        let ready = Flag()
        let done = Flag()
        let transferred = Transferred(receiver)
        async let sent: Void = onThread {
            let sender = try Socket(context, kinds.sender)
            try sender.set(.sendHighWaterMark(0))
            try sender.connect(endpoint)
            while !ready.isRaised {
                _ = try sender.trySend([UInt8(0)])
                usleep(1000)
            }
            let payload = [UInt8](repeating: 0xAB, count: size)
            try payload.withUnsafeBytes { buffer in
                for _ in 0..<count { try sender.send(buffer) }
            }
            while !done.isRaised { usleep(1000) }
        }
        let rate = try await onThread {
            let socket = transferred.take()
            let message = Message()
            try socket.receive(into: message)
            ready.raise()
            repeat { try socket.receive(into: message) } while message.count == 1
            let start = ContinuousClock.now
            let cpuStart = processCPUSeconds()
            for _ in 1..<count { try socket.receive(into: message) }
            let rate = Measurement(count: count - 1, start: start, cpuStart: cpuStart)
            done.raise()
            return rate
        }
        try await sent
        return rate
    }

    // MARK: SocketLoop

    /// A binding sender thread feeds a PULL socket owned by a `SocketLoop`; an async task consumes batches.
    static func loopInbound(size: Int, count: Int, context: Context) async throws -> Double {
        try await withSocketLoop(context: context, name: "bench-in", logger: Logger(label: "bench")) { loop in
            let pull = try Socket(context, .pull)
            try pull.set(.receiveHighWaterMark(0))
            let endpoint = try pull.bind("tcp://127.0.0.1:*")
            let inbox = try loop.addStream(pull, policy: .backpressure(capacity: 4096)).messages
            let done = Flag()
            async let sent: Void = onThread {
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                let payload = [UInt8](repeating: 0xAB, count: size)
                try payload.withUnsafeBytes { buffer in
                    for _ in 0..<count { try push.send(buffer) }
                }
                while !done.isRaised { usleep(1000) }
            }
            var iterator = inbox.makeAsyncIterator()
            var received = 0
            guard let first = await iterator.nextBatch() else { return 0 }
            received += first.count
            let start = ContinuousClock.now
            let startCount = received
            while received < count, let batch = await iterator.nextBatch() {
                received += batch.count
            }
            let elapsed = seconds(ContinuousClock.now - start)
            done.raise()
            try await sent
            return Double(received - startCount) / elapsed
        }
    }

    /// Async code queues messages in batches through `send(contentsOf:)`; a binding thread receives them.
    static func loopOutbound(size: Int, count: Int, context: Context) async throws -> Double {
        try await withSocketLoop(context: context, name: "bench-out", logger: Logger(label: "bench")) { loop in
            let pull = try Socket(context, .pull)
            try pull.set(.receiveHighWaterMark(0))
            let endpoint = try pull.bind("tcp://127.0.0.1:*")
            let push = try Socket(context, .push)
            try push.set(.sendHighWaterMark(0))
            try push.connect(endpoint)
            let out = try loop.add(push, outboundCapacity: 8192)
            let transferred = Transferred(pull)
            async let rate = onThread {
                let socket = transferred.take()
                let message = Message()
                try socket.receive(into: message)
                let start = ContinuousClock.now
                for _ in 1..<count { try socket.receive(into: message) }
                return Double(count - 1) / seconds(ContinuousClock.now - start)
            }
            let frame = [UInt8](repeating: 0xAB, count: size)
            let batch = Array(repeating: [frame], count: 1024)
            var queued = 0
            while queued < count {
                let slice = min(batch.count, count - queued)
                try await loop.send(contentsOf: slice == batch.count ? batch : Array(batch[..<slice]), on: out)
                queued += slice
            }
            return try await rate
        }
    }

    /// CPU time (user + system) used by the whole process so far, all threads included.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Messages per second of wall-clock time and per second of process CPU time.
    struct Measurement {
        var rate: Double
        var cpuRate: Double

        init(count: Int, start: ContinuousClock.Instant, cpuStart: Double) {
            rate = Double(count) / ZeroMQBenchRunner.seconds(ContinuousClock.now - start)
            cpuRate = Double(count) / max(1e-9, ZeroMQBenchRunner.processCPUSeconds() - cpuStart)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Hands a non-`Sendable` value to the one thread that uses it next.
///
/// `@unchecked Sendable`: created with `sending` (the creator keeps no access) and taken exactly once.
final class Transferred<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: sending Value) { self.value = value }
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}

/// A libzmq context made with plain C calls, for the C-API loops.
final class RawContext: @unchecked Sendable {
    // @unchecked Sendable: a libzmq context is thread-safe; `handle` never changes.
    let handle: UnsafeMutableRawPointer
    init() { handle = zmq_ctx_new() }
    deinit { zmq_ctx_term(handle) }
}

/// A socket made with plain C calls.
final class RawSocket {
    let handle: UnsafeMutableRawPointer
    init(_ context: RawContext, _ kind: Int32) throws {
        guard let handle = zmq_socket(context.handle, kind) else {
            throw ZeroMQError(errno: zmq_errno(), operation: "zmq_socket")
        }
        self.handle = handle
        var linger: Int32 = 0
        zmq_setsockopt(handle, ZMQ_LINGER, &linger, 4)
    }
    deinit { zmq_close(handle) }

    func lastEndpoint() throws -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
            throw ZeroMQError(errno: zmq_errno(), operation: "ZMQ_LAST_ENDPOINT")
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

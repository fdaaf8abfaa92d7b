import FlowPool
import Logging
import ZeroMQ

/// Subscribers of a namespace's batches that stop reading as soon as the coordinator has confirmed their
/// subscription: stalled consumers. Each reads one message at most (its socket's own loop stops reading
/// once one message waits unconsumed) and has tiny socket buffers, so what the coordinator queues for it
/// stays at the coordinator, up to its per-subscriber bound; the coordinator's peak RSS shows the cost.
final class StalledSubscribers: Sendable {
    private let loop: SocketLoop

    private init(loop: SocketLoop) { self.loop = loop }

    /// Connects `count` stalled subscribers to `endpoint` for the namespace of `topicPrefix` and waits until
    /// the coordinator confirmed each subscription.
    static func connect(
        count: Int,
        endpoint: String,
        topicPrefix: [UInt8],
        token: String,
        timeout: Duration,
        logger: Logger
    ) async throws -> StalledSubscribers {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "fpb-stalled", logger: logger)
        loop.start()
        do {
            let namespace = topicPrefix.prefix { $0 != UInt8(ascii: "/") }
            for n in 0..<count {
                let socket = try Socket(context, .sub)
                try BenchKeys.secure(socket)
                try socket.set(.receiveHighWaterMark(1))
                try socket.set(.int32(option: 12, value: 4096))  // ZMQ_RCVBUF
                try socket.connect(endpoint)
                try socket.set(.subscribe(EventBatch.subscriberTopicPrefix + namespace + [UInt8(ascii: "/")]))
                let sync = Array("\u{0}sync/\(token)stalled\(n)".utf8)
                try socket.set(.subscribe(sync))
                // Capacity 1 and never consumed past the echo: the loop stops reading this socket.
                let (_, inbox) = try loop.addStream(socket, policy: .backpressure(capacity: 1), maxFrames: 2)
                let confirmed = try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for await frames in inbox where frames.first == sync { return true }
                        return false
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return false
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? false
                }
                guard confirmed else {
                    throw BenchError(
                        .timeout,
                        "the coordinator did not confirm stalled subscriber \(n) within \(timeout)"
                    )
                }
            }
        } catch {
            await loop.shutdown()
            throw error
        }
        return StalledSubscribers(loop: loop)
    }

    /// Closes the subscribers.
    func close() async { await loop.shutdown() }
}

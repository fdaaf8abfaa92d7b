import FlowPool
import Synchronization
import ZeroMQ

/// Commands a fake worker received, collected by a reader task.
final class ReceivedCommands: Sendable {
    let list = Mutex<[WorkerCommand]>([])

    /// Connects a DEALER with routing id `identity` to a coordinator's worker endpoint, as a worker does, runs
    /// `body` with its handle on `loop`, and collects every command the coordinator sends it meanwhile.
    static func withFakeWorker<T>(
        identity: String,
        endpoint: String,
        context: Context,
        loop: SocketLoop,
        _ body: (SocketLoop.SocketHandle, ReceivedCommands) async throws -> T
    ) async throws -> T {
        let socket = try Socket(context, .dealer)
        try socket.set(.routingID(Array(identity.utf8)))
        try socket.connect(endpoint)
        let (worker, commands) = try loop.addStream(socket, maxFrames: 8)
        let received = ReceivedCommands()
        let reader = Task {
            for await frames in commands {
                guard let command = try? WorkerCommand.decode(frames) else { continue }
                received.list.withLock { $0.append(command) }
            }
        }
        defer { reader.cancel() }
        return try await body(worker, received)
    }
}

import FlowPool
import Foundation
import Synchronization
import ZeroMQ

/// The CURVE keys of the load harness's own sockets (driver, subscribers, status), when the pool has keys:
/// `--curve` makes a key set for the local pool, `--key-file` and `--coordinator-key` name those of an existing one.
enum BenchKeys {
    private static let current = Mutex<PoolKeys?>(nil)

    /// The client keys every harness socket uses, or nil.
    static var client: PoolKeys? { current.withLock { $0 } }

    static func use(_ keys: PoolKeys?) { current.withLock { $0 = keys } }

    /// Makes `socket` a CURVE client when the pool has keys; call before `connect`.
    static func secure(_ socket: Socket) throws { try client?.secure(socket) }

    /// Writes a key set for a local pool into a new temporary directory and returns the arguments of the
    /// coordinator and of each worker, and the harness's client keys.
    static func makeLocalSet() throws -> (coordinator: [String], worker: [String], client: PoolKeys) {
        let set = try LocalKeySet(
            directory: NSTemporaryDirectory() + "flowpool-bench-keys-\(UUID().uuidString.prefix(8))"
        )
        return (set.coordinatorArguments, set.workerArguments, set.client)
    }
}

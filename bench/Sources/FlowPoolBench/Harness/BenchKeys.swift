import FlowPool
import Foundation
import Synchronization
import ZeroMQ

/// The CURVE keys of the load harness's own sockets (driver, subscribers, status), when the pool has keys:
/// `--curve` makes a key set for the local pool, `--key-file` and `--coordinator-key` name those of an existing one.
enum BenchKeys {
    private static let current = Mutex<PoolKeys?>(nil)
    /// The directories of the key sets made for local pools, removed by ``removeLocalSets()``.
    private static let madeDirectories = Mutex<[String]>([])

    /// The client keys every harness socket uses, or nil.
    static var client: PoolKeys? { current.withLock { $0 } }

    static func use(_ keys: PoolKeys?) { current.withLock { $0 = keys } }

    /// Makes `socket` a CURVE client when the pool has keys; call before `connect`.
    static func secure(_ socket: Socket) throws { try client?.secure(socket) }

    /// Writes a key set for a local pool into a new temporary directory and returns the arguments of the
    /// coordinator and of each worker, and the harness's client keys.
    static func makeLocalSet() throws -> (coordinator: [String], worker: [String], client: PoolKeys) {
        let directory = NSTemporaryDirectory() + "flowpool-bench-keys-\(UUID().uuidString.prefix(8))"
        madeDirectories.withLock { $0.append(directory) }
        let set = try LocalKeySet(directory: directory)
        return (set.coordinatorArguments, set.workerArguments, set.client)
    }

    /// Removes the key sets made for local pools (the pools have stopped).
    static func removeLocalSets() {
        let directories = madeDirectories.withLock { d in
            defer { d = [] }
            return d
        }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }
}

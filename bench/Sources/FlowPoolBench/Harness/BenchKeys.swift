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

    /// Writes a key set for a local pool into a new temporary directory — the coordinator's pair, one worker key,
    /// one client key for every namespace, and the allow-list — and returns the arguments of the coordinator and of
    /// each worker, and the harness's client keys.
    static func makeLocalSet() throws -> (coordinator: [String], worker: [String], client: PoolKeys) {
        let directory = NSTemporaryDirectory() + "flowpool-bench-keys-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func make(_ name: String) throws -> CurveKeyPair {
            let keys = try CurveKeyPair.generate()
            _ = try CertificateFile(publicKey: keys.publicKey, secretKey: keys.secretKey)
                .write(name: name, directory: directory)
            return keys
        }
        let coordinator = try make("coordinator")
        let worker = try make("bench-worker")
        let client = try make("bench-client")
        var list = AllowList()
        try list.add(.init(name: "bench-worker", role: .worker, publicKey: worker.publicKey, namespaces: []))
        try list.add(
            .init(name: "bench-client", role: .client, publicKey: client.publicKey, namespaces: [try .init("*")])
        )
        let allowFile = "\(directory)/allow.list"
        try (list.entries.map(\.line).joined(separator: "\n") + "\n").write(
            toFile: allowFile,
            atomically: true,
            encoding: .utf8
        )
        return (
            ["--key-file=\(directory)/coordinator.key_secret", "--allow-file=\(allowFile)"],
            ["--key-file=\(directory)/bench-worker.key_secret", "--coordinator-key=\(directory)/coordinator.key"],
            PoolKeys(keys: client, coordinatorKey: coordinator.publicKey)
        )
    }
}

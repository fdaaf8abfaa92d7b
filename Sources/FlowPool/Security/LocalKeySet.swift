import Foundation
import ZeroMQ

/// A complete key set for a pool on one machine, written into a directory: the coordinator's pair, one worker key,
/// one client key for every namespace, and the allow-list naming the two. `flowpool demo --curve` and the load
/// harness's `--curve` run their pools with one.
public struct LocalKeySet: Sendable {
    /// The directory holding the files.
    public let directory: String
    /// The client key's keys, for the process that made the set.
    public let client: PoolKeys

    /// Arguments that give a `flowpool coordinator` the set's key and allow-list.
    public var coordinatorArguments: [String] {
        ["--key-file=\(directory)/coordinator.key_secret", "--allow-file=\(directory)/allow.list"]
    }

    /// Arguments that give a `flowpool worker` the set's worker key.
    public var workerArguments: [String] {
        ["--key-file=\(directory)/worker.key_secret", "--coordinator-key=\(directory)/coordinator.key"]
    }

    /// Arguments that give a client command (`submit`, `status`, `web`, …) the set's client key.
    public var clientArguments: [String] {
        ["--key-file=\(directory)/client.key_secret", "--coordinator-key=\(directory)/coordinator.key"]
    }

    /// Makes the keys and writes them into `directory` (created if needed; the key files must not exist yet).
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func make(_ name: String) throws -> CurveKeyPair {
            let keys = try CurveKeyPair.generate()
            _ = try CertificateFile(publicKey: keys.publicKey, secretKey: keys.secretKey, metadata: ["name": name])
                .write(name: name, directory: directory)
            return keys
        }
        let coordinator = try make("coordinator")
        let worker = try make("worker")
        let client = try make("client")
        var list = AllowList()
        try list.add(.init(name: "worker", role: .worker, publicKey: worker.publicKey, namespaces: []))
        try list.add(.init(name: "client", role: .client, publicKey: client.publicKey, namespaces: [try .init("*")]))
        try
            ("# flowpool allow-list: NAME ROLE PUBLIC-KEY [NAMESPACES]\n"
            + list.entries.map(\.line).joined(separator: "\n") + "\n")
            .write(toFile: "\(directory)/allow.list", atomically: true, encoding: .utf8)
        self.directory = directory
        self.client = PoolKeys(keys: client, coordinatorKey: coordinator.publicKey)
    }
}

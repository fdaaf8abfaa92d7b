import ZeroMQ

/// The CURVE keys a peer of a pool with keys connects with: its own key pair and the coordinator's public key.
///
/// Every socket a worker, client or subscriber opens to the coordinator is a CURVE client with them. Load them
/// with ``load(keyFile:coordinatorKey:)``.
public struct PoolKeys: Sendable, Hashable {
    /// This peer's key pair.
    public var keys: CurveKeyPair
    /// The coordinator's public key (Z85).
    public var coordinatorKey: String

    public init(keys: CurveKeyPair, coordinatorKey: String) {
        self.keys = keys
        self.coordinatorKey = coordinatorKey
    }

    /// Loads a peer's keys.
    ///
    /// - Parameters:
    ///   - keyFile: This peer's secret key file (`NAME.key_secret` from `flowpool keys new`).
    ///   - coordinatorKey: The coordinator's public key file (`coordinator.key`), or the key itself (40 characters
    ///     of Z85).
    /// - Throws: ``AccessError`` saying which file is wrong and how.
    public static func load(keyFile: String, coordinatorKey: String) throws(AccessError) -> PoolKeys {
        let keys = try CertificateFile.loadKeyPair(path: keyFile)
        let server =
            CurveKeyText.isKey(coordinatorKey)
            ? coordinatorKey : try CertificateFile.load(path: coordinatorKey).publicKey
        return PoolKeys(keys: keys, coordinatorKey: server)
    }

    /// Makes `socket` a CURVE client of the coordinator; call before `connect`.
    public func secure(_ socket: Socket) throws {
        try socket.makeCurveClient(keys, serverPublicKey: coordinatorKey)
    }
}

/// The coordinator's CURVE set-up: its key pair and the allow-list file of the keys it accepts.
public struct CoordinatorKeys: Sendable, Hashable {
    /// The coordinator's key pair (every endpoint is a CURVE server with it).
    public var keys: CurveKeyPair
    /// The allow-list file, read at start-up and again by ``Coordinator/reloadAllowList()``.
    public var allowFile: String

    public init(keys: CurveKeyPair, allowFile: String) {
        self.keys = keys
        self.allowFile = allowFile
    }
}

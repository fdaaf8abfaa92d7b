import CZeroMQ

/// A CURVE long-term key pair, both keys Z85-encoded (40 characters).
public struct CurveKeyPair: Sendable, Hashable {
    /// The public key, shared with peers (a server's goes to its clients; a client's to the allow-list).
    public let publicKey: String
    /// The secret key; keep it private.
    public let secretKey: String

    /// Generates a new key pair (`zmq_curve_keypair`).
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZeroMQError.last("generate CURVE keys") }
        return CurveKeyPair(publicKey: Self.string(publicKey), secretKey: Self.string(secretKey))
    }

    /// Rebuilds a key pair from its secret key (`zmq_curve_public`).
    public init(secretKey: String) throws {
        var publicKey = [CChar](repeating: 0, count: 41)
        guard secretKey.utf8.count == 40, zmq_curve_public(&publicKey, secretKey) == 0 else {
            throw ZeroMQError(
                .invalidArgument,
                "a CURVE secret key is 40 Z85 characters",
                operation: "derive CURVE public key"
            )
        }
        self.init(publicKey: Self.string(publicKey), secretKey: secretKey)
    }

    /// Wraps existing keys without checking them.
    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Socket {
    /// Makes this socket a CURVE server with `keys`; call before `bind`.
    ///
    /// Without a ``ZAPHandler`` on the context, a CURVE server accepts any client key (traffic is still
    /// encrypted); start one first to authenticate clients.
    public func makeCurveServer(_ keys: CurveKeyPair, domain: String = "global") throws {
        try set(.curveServer(true))
        try set(.curveSecretKey(keys.secretKey))
        try set(.zapDomain(domain))
    }

    /// Makes this socket a CURVE client with `keys`, expecting the server key `serverPublicKey`; call
    /// before `connect`.
    public func makeCurveClient(_ keys: CurveKeyPair, serverPublicKey: String) throws {
        try set(.curveServerKey(serverPublicKey))
        try set(.curvePublicKey(keys.publicKey))
        try set(.curveSecretKey(keys.secretKey))
    }
}

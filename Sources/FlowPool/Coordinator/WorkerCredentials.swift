import Crypto

/// Issues and checks the credentials that prove which worker sent an event or a `stalled` report.
///
/// Events reach the coordinator on an XSUB socket, which does not tell who sent a message, so a worker names
/// itself with the credential it received in `registered`: its routing identity and an HMAC-SHA256 of that
/// identity under a key only this coordinator instance knows (128 bits of it). Nobody who has not registered
/// under an identity can produce its credential, and a credential stays the same for as long as the
/// coordinator runs, so a worker that registers again (after `reregister`) keeps it. Whether the worker may
/// write into a run is then the coordinator's lease table's decision, not the credential's.
///
/// Credential text: the identity's bytes as lowercase hex, a `.`, and the 16-byte tag as lowercase hex.
struct WorkerCredentials {
    private let key: SymmetricKey
    /// Credentials already verified, with the identity each names: most event messages skip the HMAC.
    private var verified: [[UInt8]: [UInt8]] = [:]
    /// Most entries in ``verified`` before it is emptied (it refills from live workers' next messages).
    static let cacheLimit = 4_096
    /// Bytes of the tag.
    static let tagBytes = 16
    /// Longest credential: a routing identity is at most 255 bytes.
    static let maxBytes = 2 * 255 + 1 + 2 * tagBytes

    /// Makes credentials under a fresh random key.
    init() { key = SymmetricKey(size: .bits256) }

    /// Makes credentials under `key` (tests).
    init(key: [UInt8]) { self.key = SymmetricKey(data: key) }

    /// The credential of the worker with routing identity `identity`.
    func credential(for identity: [UInt8]) -> String {
        Self.hex(identity) + "." + Self.hex(Array(tag(identity)))
    }

    /// The routing identity a credential names, or nil when it is not one this coordinator issued.
    mutating func identity(_ credential: UnsafeRawBufferPointer) -> [UInt8]? {
        guard credential.count <= Self.maxBytes else { return nil }
        let bytes = Array(credential)
        if let known = verified[bytes] { return known }
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let identity = Self.unhex(bytes[..<dot]), !identity.isEmpty,
            let claimed = Self.unhex(bytes[(dot + 1)...]), claimed.count == Self.tagBytes
        else { return nil }
        // Compared in constant time.
        let expected = tag(identity)
        var difference: UInt8 = 0
        for (a, b) in zip(expected, claimed) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        if verified.count >= Self.cacheLimit { verified.removeAll(keepingCapacity: true) }
        verified[bytes] = identity
        return identity
    }

    /// The routing identity a credential names, or nil when it is not one this coordinator issued.
    mutating func identity(_ credential: [UInt8]) -> [UInt8]? {
        credential.withUnsafeBytes { identity($0) }
    }

    private func tag(_ identity: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: identity, using: key).prefix(Self.tagBytes))
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8?
        for c in text {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }
}

import Foundation
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CURVE key pair in ZeroMQ's certificate file format (ZPL, as CZMQ's `zcert` and pyzmq's
/// `zmq.auth.create_certificates` write it, so `zmq.auth.load_certificate` reads ours): `NAME.key` holds the
/// public key, `NAME.key_secret` both keys and is readable by its owner only (mode 0600).
public struct CertificateFile: Sendable, Hashable {
    /// The keys; `secretKey` is empty when the file is a public certificate.
    public var publicKey: String
    public var secretKey: String?
    /// The `metadata` section (`name`, `role`, `namespaces` for flowpool's own files).
    public var metadata: [String: String]

    public init(publicKey: String, secretKey: String?, metadata: [String: String] = [:]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.metadata = metadata
    }

    /// The key pair, when the file holds the secret key.
    public var keyPair: CurveKeyPair? {
        secretKey.map { CurveKeyPair(publicKey: publicKey, secretKey: $0) }
    }

    /// Parses certificate text: `public-key = "…"` and `secret-key = "…"` lines of the `curve` section, and the
    /// `metadata` section's `name = "value"` lines. A secret key without its public key is completed.
    /// - Throws: ``AccessError`` when no key is found or a key is not 40 characters of Z85.
    public init(parsing text: String, source: String) throws(AccessError) {
        var publicKey: String?
        var secretKey: String?
        var metadata: [String: String] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let indented = raw.first == " " || raw.first == "\t"
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard indented else {
                section = line
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(
                in: .whitespaces.union(CharacterSet(charactersIn: "\"'"))
            )
            switch (section, name) {
            case ("curve", "public-key"): publicKey = value
            case ("curve", "secret-key"): secretKey = value
            case ("metadata", _): metadata[name] = value
            default: break
            }
        }
        if let secretKey {
            guard CurveKeyText.isKey(secretKey), let pair = try? CurveKeyPair(secretKey: secretKey) else {
                throw AccessError("\(source): its secret-key is not 40 characters of Z85")
            }
            if let publicKey, publicKey != pair.publicKey {
                throw AccessError("\(source): its public-key does not belong to its secret-key")
            }
            publicKey = pair.publicKey
        }
        guard let publicKey else {
            throw AccessError("\(source): no public-key or secret-key line in a \"curve\" section; not a key file")
        }
        guard CurveKeyText.isKey(publicKey) else {
            throw AccessError("\(source): its public-key is not 40 characters of Z85")
        }
        self.init(publicKey: publicKey, secretKey: secretKey, metadata: metadata)
    }

    /// Reads a certificate file.
    /// - Throws: ``AccessError`` when it cannot be read or holds no valid key.
    public static func load(path: String) throws(AccessError) -> CertificateFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AccessError("cannot read the key file \(path): \(error.localizedDescription)")
        }
        return try CertificateFile(parsing: text, source: path)
    }

    /// Reads the file of a key pair, which must hold the secret key.
    /// - Throws: ``AccessError`` when it cannot be read or has no secret key (a `.key` file given for its
    ///   `.key_secret`, say).
    public static func loadKeyPair(path: String) throws(AccessError) -> CurveKeyPair {
        let file = try load(path: path)
        guard let pair = file.keyPair else {
            throw AccessError(
                "\(path) holds only a public key; give the secret key file (NAME.key_secret, from flowpool keys new)"
            )
        }
        return pair
    }

    /// A warning when anyone may read the file at `path`, or others than its owner may change it, else nil. (A
    /// group that may read it is left alone: Kubernetes gives mounted Secrets to the pod's `fsGroup`.)
    public static func permissionWarning(path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o026 != 0 else { return nil }
        return
            "the secret key file \(path) may be read or changed by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"
    }

    /// The file's text: the secret certificate when `includeSecret` (and the secret key is known), else the public one.
    public func text(includeSecret: Bool, generatedBy: String = "flowpool") -> String {
        let secret = includeSecret ? secretKey : nil
        var lines = ["#   ****  Generated by \(generatedBy)  ****"]
        if secret != nil {
            lines += [
                "#   ZeroMQ CURVE **Secret** Certificate",
                "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.",
            ]
        } else {
            lines += [
                "#   ZeroMQ CURVE Public Certificate",
                "#   Exchange securely, or use a secure mechanism to verify the contents",
                "#   of this file after exchange.",
            ]
        }
        lines += ["", "metadata"]
        for key in metadata.keys.sorted() { lines.append("    \(key) = \"\(metadata[key]!)\"") }
        lines += ["curve", "    public-key = \"\(publicKey)\""]
        if let secret { lines.append("    secret-key = \"\(secret)\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `NAME.key` (mode 0644) and `NAME.key_secret` (mode 0600) into `directory`; refuses to overwrite.
    /// - Returns: The two paths.
    /// - Throws: ``AccessError`` when a file exists or cannot be written.
    public func write(name: String, directory: String) throws(AccessError) -> (publicPath: String, secretPath: String) {
        let base = (directory as NSString).appendingPathComponent(name)
        let publicPath = base + ".key"
        let secretPath = base + ".key_secret"
        for path in [publicPath, secretPath] where FileManager.default.fileExists(atPath: path) {
            throw AccessError("\(path) exists already; remove it or choose another name")
        }
        try Self.create(secretPath, text(includeSecret: true), mode: 0o600)
        try Self.create(publicPath, text(includeSecret: false), mode: 0o644)
        return (publicPath, secretPath)
    }

    /// Creates a new file with `mode` (never replacing one) and writes `text` into it.
    private static func create(_ path: String, _ text: String, mode: mode_t) throws(AccessError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw AccessError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // The mode asked for, whatever the umask.
        fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AccessError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written += n
        }
    }
}

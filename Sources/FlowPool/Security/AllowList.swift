import Foundation

/// The coordinator's allow-list: which public keys may connect, in which role, to which namespaces.
///
/// A text file, one key per line: `NAME ROLE PUBLIC-KEY [NAMESPACES]`, fields separated by spaces; lines that
/// are empty or start with `#` are ignored. `flowpool keys new` prints (and with `--allow-file` appends) the line
/// of the key it makes:
///
/// ```
/// # name       role        public key (Z85)                          namespaces
/// support-app  client      Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID  support,sales_*
/// worker-a     worker      rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
/// dashboard    subscriber  9>6[l.Q&>xi!H8(]g?OlGw*[F/nqGEfh7bR+d@Ix  *
/// ```
public struct AllowList: Sendable, Hashable {
    /// One allowed key.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// A name for logs and `status` (1–64 of `A-Z a-z 0-9 . _ -`).
        public var name: String
        public var role: PeerRole
        /// The key's public half, Z85 (40 characters).
        public var publicKey: String
        /// The namespaces a client or subscriber may touch (empty for workers).
        public var namespaces: [NamespacePattern]

        public init(name: String, role: PeerRole, publicKey: String, namespaces: [NamespacePattern]) {
            self.name = name
            self.role = role
            self.publicKey = publicKey
            self.namespaces = namespaces
        }

        /// The entry as an allow-list line.
        public var line: String {
            var fields = [name, role.rawValue, publicKey]
            if role.hasNamespaces { fields.append(namespaces.map(\.description).joined(separator: ",")) }
            return fields.joined(separator: " ")
        }

        public var description: String { "\(name) (\(role))" }

        /// Whether the namespace `name` is one of the key's.
        public func allows(namespace: String) -> Bool { namespaces.contains { $0.matches(namespace) } }

        /// Whether every topic starting with the plain topic prefix `prefix` is in the key's namespaces.
        public func covers(topicPrefix prefix: some Collection<UInt8>) -> Bool {
            namespaces.contains { $0.covers(topicPrefix: prefix) }
        }
    }

    public private(set) var entries: [Entry] = []
    private var byKey: [String: Int] = [:]

    public init() {}

    /// The entry of the public key `key` (Z85).
    public func entry(forKey key: some StringProtocol) -> Entry? {
        byKey[String(key)].map { entries[$0] }
    }

    /// Adds an entry.
    /// - Throws: ``AccessError`` when its name or key is already in the list, or it is not valid.
    public mutating func add(_ entry: Entry) throws(AccessError) {
        try Self.validate(entry)
        if byKey[entry.publicKey] != nil {
            throw AccessError("the public key of \"\(entry.name)\" is already in the list")
        }
        if entries.contains(where: { $0.name == entry.name }) {
            throw AccessError("the name \"\(entry.name)\" is already in the list")
        }
        byKey[entry.publicKey] = entries.count
        entries.append(entry)
    }

    static func validate(_ entry: Entry) throws(AccessError) {
        let nameBytes = Array(entry.name.utf8)
        guard (1...64).contains(nameBytes.count),
            nameBytes.allSatisfy({ b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            })
        else {
            throw AccessError("name \"\(entry.name)\" must be 1–64 of the characters A-Z a-z 0-9 . _ -")
        }
        guard CurveKeyText.isKey(entry.publicKey) else {
            throw AccessError("public key of \"\(entry.name)\" is not 40 characters of Z85")
        }
        if entry.role.hasNamespaces, entry.namespaces.isEmpty {
            throw AccessError(
                "\(entry.role) key \"\(entry.name)\" needs namespaces (a list like support,sales_* or * for all)"
            )
        }
        if !entry.role.hasNamespaces, !entry.namespaces.isEmpty {
            throw AccessError("worker key \"\(entry.name)\" takes no namespaces: workers run any namespace's jobs")
        }
    }

    /// Parses an allow-list file's text.
    /// - Throws: ``AccessError`` naming the line and what is wrong with it.
    public init(parsing text: String, source: String = "allow-list") throws(AccessError) {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "\(source) line \(index + 1)"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 3 || fields.count == 4 else {
                throw AccessError(
                    "\(where_): expected NAME ROLE PUBLIC-KEY [NAMESPACES], got \(fields.count) fields"
                )
            }
            guard let role = PeerRole(rawValue: fields[1]) else {
                throw AccessError(
                    "\(where_): unknown role \"\(fields[1])\" (client, worker or subscriber)"
                )
            }
            do throws(AccessError) {
                let namespaces = fields.count == 4 ? try NamespacePattern.list(fields[3]) : []
                try add(Entry(name: fields[0], role: role, publicKey: fields[2], namespaces: namespaces))
            } catch {
                throw AccessError("\(where_): \(error.message)")
            }
        }
    }

    /// Reads and parses an allow-list file.
    /// - Throws: ``AccessError`` when it cannot be read or a line is not valid.
    public static func load(path: String) throws(AccessError) -> AllowList {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AccessError("cannot read the allow-list \(path): \(error.localizedDescription)")
        }
        return try AllowList(parsing: text, source: path)
    }

    /// What changed from `old` to this list: keys added, removed, and changed (role or namespaces).
    public func changes(from old: AllowList) -> (added: [Entry], removed: [Entry], changed: [Entry]) {
        let added = entries.filter { old.entry(forKey: $0.publicKey) == nil }
        let removed = old.entries.filter { entry(forKey: $0.publicKey) == nil }
        let changed = entries.filter { e in old.entry(forKey: e.publicKey).map { $0 != e } ?? false }
        return (added, removed, changed)
    }
}

/// Checks on CURVE key text.
enum CurveKeyText {
    /// The Z85 alphabet (RFC 32).
    static let alphabet = Set(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8
    )

    /// Whether `text` is a 40-character Z85 key.
    static func isKey(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { alphabet.contains($0) }
    }
}

/// A namespace permission of a key: one namespace (`support`), every namespace starting with a prefix
/// (`sales_*`), or every namespace (`*`).
public struct NamespacePattern: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case exact(String)
        case prefix(String)
        case all
    }

    let kind: Kind

    /// Parses one pattern.
    /// - Throws: ``AccessError`` naming the pattern and what is wrong with it.
    public init(_ text: String) throws(AccessError) {
        if text == "*" {
            kind = .all
            return
        }
        let isPrefix = text.hasSuffix("*")
        let body = isPrefix ? String(text.dropLast()) : text
        guard !body.isEmpty, body.utf8.count <= 128 else {
            throw AccessError("namespace pattern \"\(text)\" must be a namespace, PREFIX* or *")
        }
        guard body.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "*") })
        else {
            throw AccessError(
                "namespace pattern \"\(text)\" has a character namespaces cannot have (/, *, a space or a control character; * may only end it)"
            )
        }
        guard !body.contains(",") else {
            throw AccessError("namespace pattern \"\(text)\" contains a comma; separate patterns with commas")
        }
        kind = isPrefix ? .prefix(body) : .exact(body)
    }

    /// Parses a comma-separated list (`support,sales_*`).
    public static func list(_ text: String) throws(AccessError) -> [NamespacePattern] {
        var patterns: [NamespacePattern] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            patterns.append(try NamespacePattern(String(part)))
        }
        return patterns
    }

    public var description: String {
        switch kind {
        case .exact(let name): name
        case .prefix(let prefix): prefix + "*"
        case .all: "*"
        }
    }

    /// Whether the namespace `name` is covered.
    public func matches(_ name: String) -> Bool {
        switch kind {
        case .exact(let exact): name == exact
        case .prefix(let prefix): name.hasPrefix(prefix)
        case .all: true
        }
    }

    /// Whether every topic that starts with `prefix` (a plain event topic prefix, `<ns>/<run>/<type>`) belongs to a
    /// covered namespace.
    public func covers(topicPrefix prefix: some Collection<UInt8>) -> Bool {
        switch kind {
        case .all:
            return true
        case .exact(let name):
            // `support/…` only: `support` alone would also select `supportX/…`.
            let head = Array(name.utf8) + [UInt8(ascii: "/")]
            return prefix.count >= head.count && prefix.starts(with: head)
        case .prefix(let start):
            let head = Array(start.utf8)
            return prefix.count >= head.count && prefix.starts(with: head)
        }
    }
}

/// A security configuration that cannot be used: a bad key file, allow-list line or namespace pattern.
public struct AccessError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

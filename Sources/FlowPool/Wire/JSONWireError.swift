/// A JSON text or a protocol message that could not be decoded.
///
/// Carries what was wrong (``Code``), where (byte offset when known) and a message a user can act on.
public struct JSONWireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem the input has.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The input ended in the middle of a value.
        public static let unexpectedEnd = Code(rawValue: "unexpected_end")
        /// A byte that cannot start or continue a value at that position.
        public static let unexpectedByte = Code(rawValue: "unexpected_byte")
        /// A malformed number.
        public static let badNumber = Code(rawValue: "bad_number")
        /// A malformed string: bad escape, raw control character, lone surrogate or invalid UTF-8.
        public static let badString = Code(rawValue: "bad_string")
        /// Arrays and objects nested deeper than the parser's limit.
        public static let tooDeep = Code(rawValue: "too_deep")
        /// The same key twice in one object.
        public static let duplicateKey = Code(rawValue: "duplicate_key")
        /// Bytes after the end of the top-level value.
        public static let trailingBytes = Code(rawValue: "trailing_bytes")
        /// A required field is missing or has the wrong type or an invalid value.
        public static let badField = Code(rawValue: "bad_field")
        /// The message's `v` is not a protocol version this build speaks.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
    }

    /// What kind of problem the input has.
    public var code: Code
    /// What was wrong, for a log line or an error reply.
    public var message: String
    /// Byte offset in the input where the problem was found, when known.
    public var offset: Int?

    public init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(code): \(message) (at byte \(offset))" }
        return "\(code): \(message)"
    }
}

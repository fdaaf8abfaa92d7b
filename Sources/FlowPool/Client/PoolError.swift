/// An error from talking to the pool: a refusal by the coordinator, a timeout, or a failed run.
public struct PoolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The coordinator did not answer in time (is it running, and is the address right?).
        public static let timeout = Code(rawValue: "timeout")
        /// The coordinator refused the request; ``PoolError/remoteCode`` says why.
        public static let rejected = Code(rawValue: "rejected")
        /// The run ended with status `failed`.
        public static let runFailed = Code(rawValue: "run_failed")
        /// A reply could not be decoded.
        public static let protocolError = Code(rawValue: "protocol_error")
        /// The connection is closed.
        public static let closed = Code(rawValue: "closed")
        /// An argument is out of its range (the message says which).
        public static let invalidArgument = Code(rawValue: "invalid_argument")
    }

    public var code: Code
    /// What happened, in words a user can act on.
    public var message: String
    /// The coordinator's error code (`pool_full`, `draining`, `attempts_exhausted`, …), when it sent one.
    public var remoteCode: PoolErrorCode?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, remoteCode: PoolErrorCode? = nil, cause: (any Error & Sendable)? = nil)
    {
        self.code = code
        self.message = message
        self.remoteCode = remoteCode
        self.cause = cause
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let remoteCode { text += " [\(remoteCode)]" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}

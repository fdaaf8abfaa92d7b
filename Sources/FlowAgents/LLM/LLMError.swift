/// Why a model call failed.
public struct LLMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The API key was rejected (HTTP 401/403).
        case unauthorized
        /// Too many requests (HTTP 429), still after retries.
        case rateLimited = "rate_limited"
        /// The server failed (HTTP 5xx), still after retries.
        case serverError = "server_error"
        /// Any other HTTP error status.
        case httpStatus = "http_status"
        /// The server could not be reached.
        case unreachable
        /// The request took longer than allowed.
        case timeout
        /// The response was not a well-formed stream of chunks.
        case malformedResponse = "malformed_response"
        /// The stream ended before the response was complete (no `[DONE]`, connection closed early).
        case truncated
        /// The configuration is incomplete (such as a missing base URL or model).
        case configuration
    }

    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    /// The HTTP status, when there was one.
    public var status: Int?
    /// The underlying error, described.
    public var cause: String?

    public init(_ code: Code, _ message: String, status: Int? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String {
        var text = "LLM \(code.rawValue): \(message)"
        if let status { text += " (HTTP \(status))" }
        if let cause { text += " [\(cause)]" }
        return text
    }
}

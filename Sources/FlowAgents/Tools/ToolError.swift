import FlowCore

/// Why a tool call failed: bad arguments, an unknown tool, nothing found, a timeout or a failure inside.
///
/// The agent turns it into an error result the model sees (``asResult``), so the model can correct
/// its call or explain the problem; it never crashes the run.
public struct ToolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The arguments do not match the tool's schema.
        case invalidArguments = "invalid_arguments"
        /// No tool has that name.
        case unknownTool = "unknown_tool"
        /// The arguments are valid but name nothing in the data (such as a date outside its range).
        case notFound = "not_found"
        /// The tool did not finish in time.
        case timeout
        /// The tool failed for another reason.
        case failed
    }

    /// The kind of failure.
    public var code: Code
    /// What was wrong and what is expected.
    public var message: String
    /// The underlying error, described, when there is one.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String {
        cause.map { "\(code.rawValue): \(message) (\($0))" } ?? "\(code.rawValue): \(message)"
    }

    /// The error as a tool result: `{"error": {"code": ..., "message": ...}}`.
    public var asResult: JSONValue {
        var error: [String: JSONValue] = ["code": .string(code.rawValue), "message": .string(message)]
        if let cause { error["cause"] = .string(cause) }
        return ["error": .object(error)]
    }
}

/// Why an agent run could not proceed.
public struct AgentError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The input is not `{"question": "<non-empty string>"}`.
        case invalidInput = "invalid_input"
        /// No agent has that name.
        case unknownAgent = "unknown_agent"
    }

    public var code: Code
    /// What was wrong and what is expected.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

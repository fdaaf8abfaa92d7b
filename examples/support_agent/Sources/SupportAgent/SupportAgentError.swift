/// Why a knowledge base could not be loaded.
public struct SupportAgentError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and where.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// An error raised by FlowCore itself: a malformed flow, namespace or subscription pattern.
///
/// Errors thrown by a node's own code are not wrapped: they reach the caller of `run` unchanged.
public struct FlowError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in a form code can switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Value: Hashable, Sendable {
            case invalidPattern
            case invalidNamespace
            case invalidRunId
            case emptyFlow
            case unknownNode
            case decodingFailed
            case encodingFailed
        }
        fileprivate let value: Value

        /// A subscription pattern could not be parsed.
        public static let invalidPattern = Code(value: .invalidPattern)
        /// A namespace is empty or contains `/`, `*` or whitespace.
        public static let invalidNamespace = Code(value: .invalidNamespace)
        /// A run id is empty or contains `/`, `*` or whitespace.
        public static let invalidRunId = Code(value: .invalidRunId)
        /// A flow was run without any node.
        public static let emptyFlow = Code(value: .emptyFlow)
        /// A node reference does not belong to the flow it was used with.
        public static let unknownNode = Code(value: .unknownNode)
        /// A value in the shared store could not be decoded as the requested type.
        public static let decodingFailed = Code(value: .decodingFailed)
        /// A value could not be encoded into the shared store.
        public static let encodingFailed = Code(value: .encodingFailed)

        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public var code: Code
    /// A message saying what happened and how to fix it.
    public var message: String
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(code): \(message) (\(underlying))" }
        return "\(code): \(message)"
    }
}

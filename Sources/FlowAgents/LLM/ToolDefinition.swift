import FlowCore

/// A tool as offered to a model: name, description and JSON Schema of its parameters.
public struct ToolDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    /// A JSON Schema object.
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

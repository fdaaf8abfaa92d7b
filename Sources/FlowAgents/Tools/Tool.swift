import FlowCore

/// A typed, validated function an agent can call.
///
/// A tool declares its parameters (``schema``); arguments are validated against it before ``call(_:)``
/// runs, so `call` only sees ``ToolArguments`` that passed. Tools that block (SQLite, files) do their
/// blocking work on their own serial queue, never on Swift's cooperative pool.
public protocol Tool: Sendable {
    /// The name the model calls the tool by, such as `total_sales`.
    var name: String { get }
    /// What the tool does, for the model.
    var description: String { get }
    /// The declared parameters.
    var schema: ToolSchema { get }
    /// Runs the tool on validated arguments.
    ///
    /// - Throws: ``ToolError`` when the arguments name nothing in the data, or another error on failure.
    func call(_ arguments: ToolArguments) async throws -> JSONValue
}

extension Tool {
    /// The tool as an LLM tool definition.
    public var definition: ToolDefinition {
        ToolDefinition(name: name, description: description, parameters: schema.jsonSchema)
    }

    /// Validates raw JSON arguments against the tool's schema.
    ///
    /// - Throws: ``ToolError`` with code `.invalidArguments`.
    public func validate(_ arguments: JSONValue) throws(ToolError) -> ToolArguments {
        try schema.validate(arguments, tool: name)
    }

    /// Validates raw JSON arguments, then runs the tool.
    public func call(json arguments: JSONValue) async throws -> JSONValue {
        try await call(validate(arguments))
    }
}

/// The tools an agent may use, by name.
public struct Toolbox: Sendable {
    /// The tools, in the order given.
    public let tools: [any Tool]
    private let byName: [String: any Tool]

    public init(_ tools: [any Tool]) {
        self.tools = tools
        var byName: [String: any Tool] = [:]
        for tool in tools { byName[tool.name] = tool }
        self.byName = byName
    }

    /// The tool named `name`.
    public subscript(name: String) -> (any Tool)? { byName[name] }

    /// The tool named `name`.
    ///
    /// - Throws: ``ToolError`` with code `.unknownTool`, listing the available tools.
    public func tool(named name: String) throws(ToolError) -> any Tool {
        guard let tool = byName[name] else {
            throw ToolError(
                .unknownTool,
                "no tool named '\(name.prefix(60))'; available: \(tools.map(\.name).joined(separator: ", "))"
            )
        }
        return tool
    }

    /// The tools as LLM tool definitions.
    public var definitions: [ToolDefinition] { tools.map(\.definition) }
}

import FlowCore
import Foundation

/// A model's request to call a tool.
public struct ToolCall: Sendable, Hashable, Codable {
    /// The call's identifier; the tool's result message refers to it.
    public var id: String
    /// The tool's name.
    public var name: String
    /// The arguments as JSON text, exactly as the model wrote them (possibly malformed).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    public init(id: String, name: String, arguments: JSONValue) {
        self.init(id: id, name: name, arguments: arguments.jsonText)
    }

    /// The arguments parsed as JSON (empty text counts as `{}`).
    ///
    /// - Throws: ``ToolError`` with code `.invalidArguments` when the text is not JSON.
    public func parsedArguments() throws(ToolError) -> JSONValue {
        if arguments.allSatisfy(\.isWhitespace) { return [:] }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(arguments.utf8))
        } catch {
            throw ToolError(.invalidArguments, "\(name): arguments are not valid JSON: \(arguments.prefix(80))")
        }
    }
}

extension JSONValue {
    /// The value as compact JSON text with sorted keys.
    package var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses JSON text.
    package static func parse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

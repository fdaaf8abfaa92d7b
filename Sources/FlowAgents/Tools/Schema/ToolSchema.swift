import FlowCore

/// The declared parameters of a tool, and the validation of arguments against them.
public struct ToolSchema: Sendable, Hashable {
    /// The parameters, in declaration order.
    public var parameters: [ToolParameter]

    public init(_ parameters: [ToolParameter]) {
        self.parameters = parameters
    }

    /// The schema as a JSON Schema object (what LLM tool definitions carry).
    public var jsonSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for parameter in parameters { properties[parameter.name] = parameter.jsonSchema }
        return [
            "type": "object",
            "properties": .object(properties),
            "required": .array(parameters.filter(\.isRequired).map { .string($0.name) }),
            "additionalProperties": false,
        ]
    }

    /// Checks `arguments` against the schema and returns them typed and normalised.
    ///
    /// Rejects a non-object, unknown or missing parameters, wrong types, values outside an enumeration
    /// or a range, over-long strings and malformed dates. Enumerated strings match case-insensitively
    /// and come back spelled as declared; integral doubles are accepted for integers.
    ///
    /// - Throws: ``ToolError`` with code `.invalidArguments`, saying what was wrong and what is expected.
    public func validate(_ arguments: JSONValue, tool: String) throws(ToolError) -> ToolArguments {
        let object: [String: JSONValue]
        switch arguments {
        case .object(let o): object = o
        case .null: object = [:]
        default: throw invalid(tool, "arguments must be a JSON object, got \(arguments.kindName)")
        }
        let known = Set(parameters.map(\.name))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw invalid(tool, "unknown parameter '\(unknown)'; expected one of: \(expectedNames)")
        }
        var values: [String: JSONValue] = [:]
        for parameter in parameters {
            guard let value = object[parameter.name], !value.isNull else {
                if parameter.isRequired {
                    throw invalid(tool, "missing required parameter '\(parameter.name)' (\(parameter.description))")
                }
                continue
            }
            values[parameter.name] = try check(value, against: parameter, tool: tool)
        }
        return ToolArguments(values)
    }

    private var expectedNames: String { parameters.map(\.name).joined(separator: ", ") }

    private func check(_ value: JSONValue, against p: ToolParameter, tool: String) throws(ToolError) -> JSONValue {
        switch p.kind {
        case .string, .date:
            guard let s = value.stringValue else {
                throw invalid(tool, "'\(p.name)' must be a string, got \(value.kindName)")
            }
            guard s.count <= p.maxLength else {
                throw invalid(tool, "'\(p.name)' is too long (\(s.count) characters, at most \(p.maxLength))")
            }
            if p.kind == .date, !Self.isDate(s) {
                throw invalid(tool, "'\(p.name)' must be a date as YYYY-MM-DD, got '\(s.prefix(40))'")
            }
            if let allowed = p.allowedValues {
                guard let match = allowed.first(where: { $0.lowercased() == s.lowercased() }) else {
                    throw invalid(
                        tool,
                        "'\(p.name)' must be one of: \(allowed.joined(separator: ", ")); got '\(s.prefix(40))'"
                    )
                }
                return .string(match)
            }
            return .string(s)
        case .integer:
            guard let i = value.intValue else {
                throw invalid(tool, "'\(p.name)' must be an integer, got \(value.kindName)")
            }
            try checkRange(Double(i), p, tool)
            return .int(i)
        case .number:
            guard let d = value.doubleValue, d.isFinite else {
                throw invalid(tool, "'\(p.name)' must be a finite number, got \(value.kindName)")
            }
            try checkRange(d, p, tool)
            return .double(d)
        case .boolean:
            guard let b = value.boolValue else {
                throw invalid(tool, "'\(p.name)' must be true or false, got \(value.kindName)")
            }
            return .bool(b)
        }
    }

    private func checkRange(_ d: Double, _ p: ToolParameter, _ tool: String) throws(ToolError) {
        if let minimum = p.minimum, d < minimum {
            throw invalid(tool, "'\(p.name)' must be at least \(format(minimum, p)), got \(format(d, p))")
        }
        if let maximum = p.maximum, d > maximum {
            throw invalid(tool, "'\(p.name)' must be at most \(format(maximum, p)), got \(format(d, p))")
        }
    }

    private func format(_ d: Double, _ p: ToolParameter) -> String {
        p.kind == .integer && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }

    private func invalid(_ tool: String, _ message: String) -> ToolError {
        ToolError(.invalidArguments, "\(tool): \(message)")
    }

    /// Whether `s` is a real calendar date written `YYYY-MM-DD`.
    static func isDate(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard s.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m)
        else { return false }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return (1...days).contains(d)
    }
}

extension JSONValue {
    /// The JSON type's name, for error messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

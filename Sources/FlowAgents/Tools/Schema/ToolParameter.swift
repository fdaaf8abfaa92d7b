import FlowCore

/// One declared parameter of a tool: its type, whether it is required, and its allowed values.
public struct ToolParameter: Sendable, Hashable {
    /// The JSON type of a parameter.
    public enum Kind: String, Sendable, Hashable {
        case string
        case integer
        case number
        case boolean
        /// A calendar date as a string, `YYYY-MM-DD`.
        case date
    }

    public var name: String
    public var kind: Kind
    public var description: String
    public var isRequired: Bool
    /// The allowed values of a string parameter (matched case-insensitively, normalised to these).
    public var allowedValues: [String]?
    /// The smallest allowed value of a numeric parameter.
    public var minimum: Double?
    /// The largest allowed value of a numeric parameter.
    public var maximum: Double?
    /// The longest allowed string.
    public var maxLength: Int
    /// For a date parameter: the first and last day the data covers (informational, emitted as
    /// `formatMinimum`/`formatMaximum`; dates outside are valid and answered by the tool).
    public var coverage: (first: String, last: String)? {
        get { coverageBounds.map { ($0[0], $0[1]) } }
        set { coverageBounds = newValue.map { [$0.first, $0.last] } }
    }
    private var coverageBounds: [String]?

    public init(
        _ name: String,
        _ kind: Kind,
        _ description: String,
        required: Bool = false,
        allowedValues: [String]? = nil,
        minimum: Double? = nil,
        maximum: Double? = nil,
        maxLength: Int = 200,
        coverage: (first: String, last: String)? = nil
    ) {
        self.name = name
        self.kind = kind
        self.description = description
        self.isRequired = required
        self.allowedValues = allowedValues
        self.minimum = minimum
        self.maximum = maximum
        self.maxLength = maxLength
        self.coverageBounds = coverage.map { [$0.first, $0.last] }
    }

    /// The parameter as a JSON Schema property.
    public var jsonSchema: JSONValue {
        var property: [String: JSONValue] = ["description": .string(description)]
        switch kind {
        case .date:
            property["type"] = "string"
            property["format"] = "date"
            property["pattern"] = "^\\d{4}-\\d{2}-\\d{2}$"
            if let coverage {
                property["formatMinimum"] = .string(coverage.first)
                property["formatMaximum"] = .string(coverage.last)
            }
        default:
            property["type"] = .string(kind.rawValue)
        }
        if let allowedValues { property["enum"] = .array(allowedValues.map(JSONValue.string)) }
        if let minimum { property["minimum"] = number(minimum) }
        if let maximum { property["maximum"] = number(maximum) }
        if kind == .string { property["maxLength"] = .int(maxLength) }
        return .object(property)
    }

    private func number(_ value: Double) -> JSONValue {
        kind == .integer ? .int(Int(value)) : .double(value)
    }
}

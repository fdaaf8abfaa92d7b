import FlowCore

/// Arguments that passed a tool's schema: typed, range-checked and normalised.
///
/// Only ``ToolSchema/validate(_:tool:)`` makes them, so a tool's `call` can rely on them.
public struct ToolArguments: Sendable, Hashable {
    /// The validated values by parameter name (absent optional parameters are missing).
    public let values: [String: JSONValue]

    package init(_ values: [String: JSONValue]) {
        self.values = values
    }

    /// A string (or date) argument.
    public func string(_ name: String) -> String? { values[name]?.stringValue }
    /// An integer argument.
    public func int(_ name: String) -> Int? { values[name]?.intValue }
    /// A numeric argument.
    public func double(_ name: String) -> Double? { values[name]?.doubleValue }
    /// A Boolean argument.
    public func bool(_ name: String) -> Bool? { values[name]?.boolValue }

    /// The arguments as a JSON object.
    public var json: JSONValue { .object(values) }
}

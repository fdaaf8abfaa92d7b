/// The string a node returns from `post` to choose which successor a flow visits next.
///
/// A node that returns ``default`` continues along its plain `connect(_:to:)` edge. A flow that ends returns
/// the action of its last node, so a parent flow can branch on what a nested flow decided.
public struct Action: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// The action taken when a node names none: `"default"`.
    public static let `default`: Action = "default"
}

/// A value bound to a statement parameter or read from a result column.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    /// The value as an integer, if it is one.
    public var int64: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The value as a `Double`, if it is numeric.
    public var double: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .real(let d): d
        default: nil
        }
    }

    /// The value as a string, if it is text.
    public var string: String? {
        if case .text(let s) = self { return s }
        return nil
    }
}

extension SQLiteValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
}

extension SQLiteValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

extension SQLiteValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .real(value) }
}

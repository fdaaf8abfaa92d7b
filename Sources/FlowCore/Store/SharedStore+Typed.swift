#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension SharedStore {
    /// The value under `key` decoded as `T`, or `nil` when there is none.
    ///
    /// Typed access converts through JSON; for hot paths use the `JSONValue` subscript directly.
    ///
    /// - Throws: ``FlowError`` with code `decodingFailed` when the stored value does not fit `T`.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        guard let value = self[key] else { return nil }
        return try value.decode(as: type)
    }

    /// Stores `value`, encoded as JSON, under `key`.
    ///
    /// - Throws: ``FlowError`` with code `encodingFailed` when `value` cannot be encoded.
    public func set<T: Encodable>(_ key: String, _ value: T) throws {
        self[key] = try JSONValue(encoding: value)
    }
}

extension JSONValue {
    /// Encodes any `Encodable` value as a `JSONValue`.
    ///
    /// - Throws: ``FlowError`` with code `encodingFailed` when `value` cannot be encoded.
    public init<T: Encodable>(encoding value: T) throws {
        if let json = value as? JSONValue {
            self = json
            return
        }
        do {
            let data = try JSONEncoder().encode(value)
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw FlowError(.encodingFailed, "Cannot encode a \(T.self) as JSON.", underlying: error)
        }
    }

    /// Decodes this value as `T`.
    ///
    /// - Throws: ``FlowError`` with code `decodingFailed` when the value does not fit `T`.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        if let same = self as? T { return same }
        do {
            let data = try JSONEncoder().encode(self)
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw FlowError(.decodingFailed, "The stored value \(self) is not a valid \(T.self).", underlying: error)
        }
    }
}

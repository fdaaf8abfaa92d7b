import FlowCore

extension JSONValue {
    /// Parses one JSON text strictly (RFC 8259; duplicate keys, lone surrogates and invalid UTF-8 rejected).
    ///
    /// - Parameter bytes: The UTF-8 JSON text.
    /// - Throws: ``JSONWireError`` naming what is wrong and where.
    public init(wireBytes bytes: some Collection<UInt8>) throws(JSONWireError) {
        let parsed: Result<JSONValue, JSONWireError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONWireError) -> JSONValue in try JSONParser.parse(UnsafeRawBufferPointer(buffer)) }
        }
        if let parsed {
            self = try parsed.get()
        } else {
            let copy = Array(bytes)
            let r: Result<JSONValue, JSONWireError> = copy.withUnsafeBytes { buffer in
                Result { () throws(JSONWireError) -> JSONValue in try JSONParser.parse(buffer) }
            }
            self = try r.get()
        }
    }

    /// Parses one JSON text given as a string.
    public init(wireText text: String) throws(JSONWireError) {
        try self.init(wireBytes: Array(text.utf8))
    }

    /// The compact JSON text of this value, as UTF-8 bytes.
    public var wireBytes: [UInt8] {
        var writer = JSONWriter()
        writer.value(self)
        return writer.bytes
    }

    /// The compact JSON text of this value.
    public var wireText: String { String(decoding: wireBytes, as: UTF8.self) }

    /// About how many bytes this value takes, in memory or as JSON text: strings by their UTF-8 length, plus a
    /// few bytes per scalar, member and element. For bounding the memory that held values take, without
    /// writing them out.
    var approximateByteCount: Int {
        switch self {
        case .null, .bool: 8
        case .int, .double: 16
        case .string(let s): 16 + s.utf8.count
        case .array(let items): items.reduce(16) { $0 + 8 + $1.approximateByteCount }
        case .object(let members): members.reduce(16) { $0 + 24 + $1.key.utf8.count + $1.value.approximateByteCount }
        }
    }
}

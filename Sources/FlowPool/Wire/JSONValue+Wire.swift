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
}

import CZeroMQ

/// Z85, ZeroMQ's printable encoding of binary keys (RFC 32), via `zmq_z85_encode`/`zmq_z85_decode`.
public enum Z85 {
    /// Encodes bytes whose count is a multiple of 4 (a 32-byte key gives 40 characters).
    public static func encode(_ bytes: [UInt8]) throws -> String {
        guard bytes.count % 4 == 0 else {
            throw ZeroMQError(
                .invalidArgument,
                "Z85 encodes a multiple of 4 bytes, got \(bytes.count)",
                operation: "Z85 encode"
            )
        }
        if bytes.isEmpty { return "" }
        var output = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        guard zmq_z85_encode(&output, bytes, bytes.count) != nil else {
            throw ZeroMQError.last("Z85 encode")
        }
        return String(decoding: output.prefix(bytes.count * 5 / 4).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes a Z85 string whose length is a multiple of 5 (40 characters give a 32-byte key).
    public static func decode(_ string: String) throws -> [UInt8] {
        let utf8 = Array(string.utf8)
        guard utf8.count % 5 == 0 else {
            throw ZeroMQError(
                .invalidArgument,
                "Z85 decodes a multiple of 5 characters, got \(utf8.count)",
                operation: "Z85 decode"
            )
        }
        if utf8.isEmpty { return [] }
        var output = [UInt8](repeating: 0, count: utf8.count * 4 / 5)
        let ok = (utf8 + [0]).withUnsafeBufferPointer { input in
            input.withMemoryRebound(to: CChar.self) { zmq_z85_decode(&output, $0.baseAddress) != nil }
        }
        guard ok else {
            throw ZeroMQError(.invalidArgument, "not valid Z85 text", operation: "Z85 decode")
        }
        return output
    }
}

import FlowCore

/// A strict RFC 8259 JSON parser over raw bytes, built for the hot path.
///
/// It accepts exactly one JSON value surrounded by optional whitespace, rejects duplicate object keys,
/// raw control characters in strings, lone surrogates, invalid UTF-8, leading zeros, and nesting deeper
/// than ``maxDepth``. Integers that fit in `Int` become ``JSONValue/int(_:)``; every other number becomes
/// ``JSONValue/double(_:)``.
struct JSONParser: ~Copyable {
    /// The deepest nesting of arrays and objects accepted.
    static let maxDepth = 64

    let bytes: UnsafeRawBufferPointer
    var index: Int

    init(_ bytes: UnsafeRawBufferPointer, index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    /// Parses one complete JSON text.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONWireError) -> JSONValue {
        var parser = JSONParser(bytes)
        let value = try parser.parseValue(depth: 0)
        try parser.expectEnd()
        return value
    }

    var isAtEnd: Bool { index >= bytes.count }

    mutating func expectEnd() throws(JSONWireError) {
        skipWhitespace()
        if index < bytes.count {
            throw JSONWireError(.trailingBytes, "unexpected bytes after the JSON value", offset: index)
        }
    }

    @inline(__always)
    /// Consumes `literal` when the input continues with exactly it.
    mutating func consume(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        for k in 0..<n where bytes[index + k] != literal.utf8Start[k] { return false }
        index += n
        return true
    }

    /// Reads the elements of an array whose `[` is consumed, through its `]`, each with `element`. Returns nil
    /// when `element` does, when the array holds more than `limit` elements, or when a separator is not `,`.
    mutating func readElements<T>(
        limit: Int,
        _ element: (inout JSONParser) throws(JSONWireError) -> T?
    ) throws(JSONWireError) -> [T]? {
        var list: [T] = []
        while true {
            guard list.count < limit, let value = try element(&self) else { return nil }
            list.append(value)
            let b = try peek()
            index += 1
            if b == UInt8(ascii: "]") { return list }
            guard b == UInt8(ascii: ",") else { return nil }
        }
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 } else { return }
        }
    }

    @inline(__always)
    mutating func peek() throws(JSONWireError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else {
            throw JSONWireError(.unexpectedEnd, "the input ended before the value was complete", offset: index)
        }
        return bytes[index]
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONWireError) {
        let b = try peek()
        guard b == byte else {
            throw JSONWireError(.unexpectedByte, "expected \(what), found \(Self.describe(b))", offset: index)
        }
        index += 1
    }

    static func describe(_ b: UInt8) -> String {
        if b >= 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16))"
    }

    // MARK: Values

    mutating func parseValue(depth: Int) throws(JSONWireError) -> JSONValue {
        let b = try peek()
        switch b {
        case UInt8(ascii: "{"):
            return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["):
            return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw JSONWireError(.unexpectedByte, "expected a JSON value, found \(Self.describe(b))", offset: index)
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONWireError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else {
            throw JSONWireError(.unexpectedEnd, "the input ended inside a literal", offset: index)
        }
        let base = word.utf8Start
        for k in 0..<count where bytes[index + k] != base[k] {
            throw JSONWireError(.unexpectedByte, "expected '\(word)'", offset: index + k)
        }
        index += count
    }

    mutating func parseObject(depth: Int) throws(JSONWireError) -> [String: JSONValue] {
        guard depth <= Self.maxDepth else {
            throw JSONWireError(.tooDeep, "nesting deeper than \(Self.maxDepth) levels", offset: index)
        }
        index += 1  // {
        var object: [String: JSONValue] = [:]
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return object
        }
        // Room for the few members a protocol message has, so that it is allocated once rather than grown
        // at the second and the fourth member.
        object.reserveCapacity(6)
        while true {
            guard try peek() == UInt8(ascii: "\"") else {
                throw JSONWireError(
                    .unexpectedByte,
                    "expected a string key, found \(Self.describe(bytes[index]))",
                    offset: index
                )
            }
            let keyOffset = index
            let key = try parseString()
            try expect(UInt8(ascii: ":"), "':'")
            let value = try parseValue(depth: depth)
            if object.updateValue(value, forKey: key) != nil {
                throw JSONWireError(.duplicateKey, "duplicate key \"\(key)\"", offset: keyOffset)
            }
            let b = try peek()
            index += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "}") { return object }
            throw JSONWireError(.unexpectedByte, "expected ',' or '}', found \(Self.describe(b))", offset: index - 1)
        }
    }

    mutating func parseArray(depth: Int) throws(JSONWireError) -> [JSONValue] {
        guard depth <= Self.maxDepth else {
            throw JSONWireError(.tooDeep, "nesting deeper than \(Self.maxDepth) levels", offset: index)
        }
        index += 1  // [
        var array: [JSONValue] = []
        if try peek() == UInt8(ascii: "]") {
            index += 1
            return array
        }
        while true {
            array.append(try parseValue(depth: depth))
            let b = try peek()
            index += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "]") { return array }
            throw JSONWireError(.unexpectedByte, "expected ',' or ']', found \(Self.describe(b))", offset: index - 1)
        }
    }

    // MARK: Numbers

    /// Scans a number's bytes, validating the grammar; returns the range and whether it is integral.
    mutating func scanNumber() throws(JSONWireError) -> (start: Int, end: Int, integral: Bool) {
        let start = index
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else {
            throw JSONWireError(.badNumber, "a number needs digits", offset: start)
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, Self.isDigit(bytes[index]) {
                throw JSONWireError(.badNumber, "numbers may not have leading zeros", offset: start)
            }
        } else {
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else {
                throw JSONWireError(.badNumber, "a fraction needs digits after '.'", offset: start)
            }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, Self.isDigit(bytes[index]) else {
                throw JSONWireError(.badNumber, "an exponent needs digits", offset: start)
            }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        return (start, index, integral)
    }

    mutating func parseNumber() throws(JSONWireError) -> JSONValue {
        let (start, end, integral) = try scanNumber()
        if integral, let i = Self.integer(bytes, start, end) { return .int(i) }
        guard let d = Self.double(bytes, start, end), d.isFinite else {
            throw JSONWireError(.badNumber, "number out of range", offset: start)
        }
        return .double(d)
    }

    /// Parses an integer that fits in `Int`, or returns nil on overflow.
    static func integer(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        var i = start
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value = 0
        while i < end {
            let digit = Int(bytes[i] &- UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return value
    }

    static func double(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Double? {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return Double(text)
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    // MARK: Strings

    /// Parses a string starting at the opening quote.
    mutating func parseString() throws(JSONWireError) -> String {
        let open = index
        index += 1
        let start = index
        var ascii = true
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw JSONWireError(.badString, "invalid UTF-8 in string", offset: open)
                }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 {
                throw JSONWireError(.badString, "raw control character in string", offset: index)
            }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        guard index < bytes.count else {
            throw JSONWireError(.unexpectedEnd, "unterminated string", offset: open)
        }
        // Slow path: escapes.
        var out: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw JSONWireError(.badString, "invalid UTF-8 in string", offset: open)
                }
                return s
            }
            if b < 0x20 {
                throw JSONWireError(.badString, "raw control character in string", offset: index)
            }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    else {
                        throw JSONWireError(.badString, "lone high surrogate", offset: index)
                    }
                    index += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw JSONWireError(.badString, "high surrogate not followed by a low one", offset: index)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw JSONWireError(.badString, "lone low surrogate", offset: index)
                }
                guard let u = Unicode.Scalar(scalar) else {
                    throw JSONWireError(.badString, "invalid Unicode scalar", offset: index)
                }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw JSONWireError(.badString, "invalid escape '\\\(Self.describe(e))'", offset: index - 2)
            }
        }
        throw JSONWireError(.unexpectedEnd, "unterminated string", offset: open)
    }

    private mutating func hex4() throws(JSONWireError) -> UInt32 {
        guard index + 4 <= bytes.count else {
            throw JSONWireError(.unexpectedEnd, "truncated \\u escape", offset: index)
        }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw JSONWireError(.badString, "bad hex digit in \\u escape", offset: index)
            }
            v = v << 4 | UInt32(d)
            index += 1
        }
        return v
    }

    // MARK: Skipping

    /// Validates and skips one value without building it.
    mutating func skipValue(depth: Int) throws(JSONWireError) {
        let b = try peek()
        switch b {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else {
                throw JSONWireError(.tooDeep, "nesting deeper than \(Self.maxDepth) levels", offset: index)
            }
            index += 1
            if try peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                guard try peek() == UInt8(ascii: "\"") else {
                    throw JSONWireError(.unexpectedByte, "expected a string key", offset: index)
                }
                try skipString()
                try expect(UInt8(ascii: ":"), "':'")
                try skipValue(depth: depth + 1)
                let c = try peek()
                index += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { return }
                throw JSONWireError(.unexpectedByte, "expected ',' or '}'", offset: index - 1)
            }
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else {
                throw JSONWireError(.tooDeep, "nesting deeper than \(Self.maxDepth) levels", offset: index)
            }
            index += 1
            if try peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1)
                let c = try peek()
                index += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return }
                throw JSONWireError(.unexpectedByte, "expected ',' or ']'", offset: index - 1)
            }
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanNumber()
        default:
            _ = try parseValue(depth: depth)
        }
    }

    /// Validates and skips a string starting at its opening quote.
    mutating func skipString() throws(JSONWireError) {
        let open = index
        var p = index + 1
        var ascii = true
        var escaped = false
        while p < bytes.count {
            let b = bytes[p]
            if b == UInt8(ascii: "\"") {
                if escaped { break }
                if !ascii,
                    String(validating: UnsafeRawBufferPointer(rebasing: bytes[(open + 1)..<p]), as: UTF8.self) == nil
                {
                    throw JSONWireError(.badString, "invalid UTF-8 in string", offset: open)
                }
                index = p + 1
                return
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                break
            }
            if b < 0x20 { throw JSONWireError(.badString, "raw control character in string", offset: p) }
            if b >= 0x80 { ascii = false }
            p += 1
        }
        if escaped {
            _ = try parseString()
            return
        }
        throw JSONWireError(.unexpectedEnd, "unterminated string", offset: open)
    }
}

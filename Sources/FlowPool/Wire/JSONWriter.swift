import FlowCore

/// Appends compact JSON text to a byte buffer, built for the hot path.
///
/// Strings are escaped per RFC 8259 (quote, backslash and control characters; everything else is written as
/// UTF-8). Non-finite doubles, which JSON cannot represent, are written as `null`.
struct JSONWriter {
    var bytes: [UInt8]

    init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): b ? raw("true") : raw("false")
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let a):
            byte(UInt8(ascii: "["))
            var first = true
            for element in a {
                if !first { byte(UInt8(ascii: ",")) }
                first = false
                self.value(element)
            }
            byte(UInt8(ascii: "]"))
        case .object(let o):
            byte(UInt8(ascii: "{"))
            var first = true
            for (key, element) in o {
                if !first { byte(UInt8(ascii: ",")) }
                first = false
                string(key)
                byte(UInt8(ascii: ":"))
                self.value(element)
            }
            byte(UInt8(ascii: "}"))
        }
    }

    mutating func int<T: BinaryInteger>(_ value: T) {
        if value == 0 {
            byte(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { byte(UInt8(ascii: "-")) }
        // 20 digits hold any 64-bit magnitude.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var n = 0
            while magnitude > 0 {
                let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10)
                digits[n] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: r)
                n += 1
                magnitude = q
            }
            while n > 0 {
                n -= 1
                bytes.append(digits[n])
            }
        }
    }

    mutating func double(_ d: Double) {
        guard d.isFinite else {
            raw("null")
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            int(Int(d))
            raw(".0")
            return
        }
        bytes.append(contentsOf: d.description.utf8)
    }

    /// Writes a timestamp (seconds since 1970) with microsecond precision, e.g. `1764042442.125031`; other
    /// values as ``double(_:)``. Faster than a shortest round-trip rendering, and as precise as event
    /// timestamps are meant to be.
    mutating func timestamp(_ d: Double) {
        guard d >= 0, d < 1e11 else {
            double(d)
            return
        }
        let micros = Int((d * 1_000_000).rounded())
        int(micros / 1_000_000)
        byte(UInt8(ascii: "."))
        var fraction = micros % 1_000_000
        var digits = 6
        while digits > 1, fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var scratch: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (48, 48, 48, 48, 48, 48)
        withUnsafeMutableBytes(of: &scratch) { buffer in
            var p = digits - 1
            while p >= 0 {
                buffer[p] = UInt8(ascii: "0") &+ UInt8(fraction % 10)
                fraction /= 10
                p -= 1
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<digits]))
        }
    }

    mutating func string(_ s: String) {
        byte(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                default:
                    raw("\\u00")
                    let hex: StaticString = "0123456789abcdef"
                    byte(hex.utf8Start[Int(b >> 4)])
                    byte(hex.utf8Start[Int(b & 0xF)])
                }
            }
            if runStart < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
            }
        }
        byte(UInt8(ascii: "\""))
    }

    /// Writes `"key":` with a key known to need no escaping.
    @inline(__always)
    mutating func key(_ k: StaticString) {
        raw(k)
    }
}

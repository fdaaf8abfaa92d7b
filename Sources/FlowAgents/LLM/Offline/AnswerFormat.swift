/// Number formatting for answers, independent of the process locale.
package enum AnswerFormat {
    /// `1234567.891` → `"$1,234,567.89"`; negative amounts as `"-$12.30"`.
    package static func money(_ value: Double) -> String {
        (value < 0 ? "-$" : "$") + grouped(abs(value), decimals: 2)
    }

    /// `1234567` → `"1,234,567"`.
    package static func count(_ value: Int) -> String {
        (value < 0 ? "-" : "") + grouped(Double(abs(value)), decimals: 0)
    }

    /// `3.14159` → `"3.14%"` (sign dropped; the wording says up or down).
    package static func percent(_ value: Double) -> String {
        grouped(abs(value), decimals: 2) + "%"
    }

    /// A non-negative value with thousands separators and `decimals` decimals, rounded half away from zero.
    package static func grouped(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled.isFinite, scaled < 9e15 else { return String(value) }
        let units = Int64(scaled)
        let divisor = Int64(scale)
        var whole = String(units / divisor)
        var groups: [Substring] = []
        while whole.count > 3 {
            groups.insert(whole.suffix(3), at: 0)
            whole = String(whole.dropLast(3))
        }
        groups.insert(Substring(whole), at: 0)
        var text = groups.joined(separator: ",")
        if decimals > 0 {
            let fraction = String(units % divisor)
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }
}

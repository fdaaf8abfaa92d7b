/// Splits a `text/event-stream` body into the `data` payloads of its events.
///
/// Bytes arrive in arbitrary pieces; complete lines are parsed as they come. An event's `data:` lines are
/// joined with newlines and delivered at the blank line that ends the event. Comments (`:`) and other
/// fields are ignored. Lines may end in `\n` or `\r\n`.
struct ServerSentEventParser {
    private var line: [UInt8] = []
    private var data: [String] = []
    /// The longest line accepted, in bytes.
    let maxLineLength: Int

    init(maxLineLength: Int = 1 << 20) {
        self.maxLineLength = maxLineLength
    }

    /// Feeds bytes and returns the payloads of the events they complete.
    ///
    /// - Throws: ``LLMError`` with code `.malformedResponse` when a line exceeds ``maxLineLength``.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(LLMError) -> [String] {
        var payloads: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if let payload = endLine() { payloads.append(payload) }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
                if line.count > maxLineLength {
                    throw LLMError(.malformedResponse, "an event-stream line exceeds \(maxLineLength) bytes")
                }
            }
        }
        return payloads
    }

    /// Ends the body: returns the payload of an event left unterminated, if any.
    mutating func finish() -> String? {
        if !line.isEmpty, let payload = endLine() { return payload }
        line.removeAll()
        return endLine()
    }

    private mutating func endLine() -> String? {
        if line.isEmpty {
            guard !data.isEmpty else { return nil }
            defer { data.removeAll() }
            return data.joined(separator: "\n")
        }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = text[...]
            value = ""
        }
        if field == "data" { data.append(String(value)) }
        return nil
    }
}

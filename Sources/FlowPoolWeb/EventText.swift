import FlowCore
import FlowPool

/// How events and results read on a page: short summaries, assembled text, values cut to a bound.
enum EventText {
    /// Longest summary of one event (the feed and a run's "last event").
    static let summaryCharacters = 160
    /// Largest content of one timeline event sent to a page, as compact JSON; longer content becomes a string cut
    /// to this length and ending in "…".
    static let contentBytes = 4 << 10

    /// A line about an event: a chunk's text, a message, an error's message, or the content as compact JSON.
    static func summary(_ content: JSONValue) -> String {
        let text: String
        switch content {
        case .string(let s): text = s
        case .object(let o):
            if let s = o["text"]?.stringValue {
                text = s
            } else if let s = o["message"]?.stringValue {
                text = s
            } else {
                text = content.wireText
            }
        default: text = content.wireText
        }
        return cut(text, to: summaryCharacters)
    }

    /// The answer a `final` event carries: its `answer` member when it has one (as agents' final events do),
    /// else the whole content (the flow's result), as ``answer(_:)`` shows it.
    static func finalAnswer(_ content: JSONValue) -> String {
        if case .object(let o) = content, let answer = o["answer"] { return Self.answer(answer) }
        return answer(content)
    }

    /// Content to keep until it is summarised: as it is when small (summarising it later costs nothing now), else
    /// its summary already made, so that what is kept per event stays within a few hundred bytes.
    static func kept(_ content: JSONValue) -> JSONValue {
        var budget = 512
        return fits(content, &budget) ? content : .string(summary(content))
    }

    /// Whether `value` takes less than `budget` bytes or so (stops counting once it does not).
    private static func fits(_ value: JSONValue, _ budget: inout Int) -> Bool {
        switch value {
        case .null, .bool, .int, .double: budget -= 8
        case .string(let s): budget -= s.utf8.count + 2
        case .array(let items):
            budget -= 2
            for item in items where budget > 0 { _ = fits(item, &budget) }
        case .object(let members):
            budget -= 2
            for (key, item) in members where budget > 0 {
                budget -= key.utf8.count + 3
                _ = fits(item, &budget)
            }
        }
        return budget > 0
    }

    /// The text a `chunk` event adds to its run's answer: its `text` member, or the content when it is a string.
    static func chunkText(_ content: JSONValue) -> String? {
        if let s = content.stringValue { return s }
        return content["text"]?.stringValue
    }

    /// A result or `final` content as a person reads it: a JSON string as it is, anything else as compact JSON.
    static func answer(_ value: JSONValue) -> String {
        value.stringValue ?? value.wireText
    }

    /// Content for a timeline row: as it is when small, else a cut string of its JSON text.
    static func boundedContent(_ content: JSONValue) -> JSONValue {
        switch content {
        case .null, .bool, .int, .double: return content
        case .string(let s) where s.utf8.count <= contentBytes: return content
        default:
            let text = content.wireText
            guard text.utf8.count > contentBytes else { return content }
            return .string(cut(text, to: contentBytes))
        }
    }

    /// `text` cut to at most `limit` characters, ending in "…" when cut.
    static func cut(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    /// An error event's or failed result's `{code, message}`.
    static func error(_ content: JSONValue) -> JSONValue {
        .object([
            "code": .string(content["code"]?.stringValue ?? "error"),
            "message": .string(cut(content["message"]?.stringValue ?? content.wireText, to: 2_000)),
        ])
    }
}

/// A first-in, first-out list of names with O(1) removal from the front (the order runs were first seen).
struct NameQueue {
    private var items: [String] = []
    private var head = 0

    var count: Int { items.count - head }

    mutating func append(_ name: String) { items.append(name) }

    mutating func popFirst() -> String? {
        guard head < items.count else { return nil }
        let name = items[head]
        head += 1
        if head > 1_024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return name
    }
}

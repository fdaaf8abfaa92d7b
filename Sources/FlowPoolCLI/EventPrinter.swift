import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Synchronization

/// Writes events as compact lines labelled with their namespace and run, one line per event.
///
/// ```
/// [sales_agent k3ZfQ0a1] #2  decision_made     tool → total_sales
/// [stock_agent k3ZfQ0a4] #7  chunk             "AAPL closed at $229.87 on 2025-06-30."
/// ```
///
/// The `chunk` events of a run are gathered into streamed text: a line is written once a sentence or about
/// sixty characters have arrived, and the rest before the run's next other event. Labels are coloured per
/// namespace when colour is on. Safe to call from several tasks: each line is written whole.
final class EventPrinter: Sendable {
    /// Whether labels are coloured (ANSI escapes).
    let colored: Bool
    private let labelWidth: Int
    private let pendingText = Mutex<[String: PendingText]>([:])

    private struct PendingText {
        var text = ""
        var firstSeq: UInt64 = 0
        var count = 0
    }

    /// Characters of streamed text gathered before a line is written.
    static let textLineLength = 60
    /// Longest summary of an event's content.
    static let summaryLength = 110

    /// - Parameters:
    ///   - colored: Colour the labels.
    ///   - labelWidth: Pad labels to this many characters so that columns line up.
    init(colored: Bool, labelWidth: Int = 0) {
        self.colored = colored
        self.labelWidth = labelWidth
    }

    /// Whether standard output should get colour: a terminal, `NO_COLOR` unset, and not refused.
    static func wantsColor(refused: Bool) -> Bool {
        !refused && isatty(STDOUT_FILENO) == 1 && Environment.string("NO_COLOR") == nil
            && Environment.string("TERM") != "dumb"
    }

    /// The label of a run: `[namespace runId]`, coloured when colour is on.
    func label(namespace: String, runId: String) -> String {
        let plain = "[\(namespace) \(runId)]"
        let padded = plain + String(repeating: " ", count: max(0, labelWidth - plain.count))
        return paint(padded, Self.colorCode(for: namespace))
    }

    /// Bold text when colour is on.
    func bold(_ text: String) -> String { paint(text, "1") }

    /// Dim text when colour is on.
    func dim(_ text: String) -> String { paint(text, "2") }

    /// Writes one event (a chunk may wait for more text).
    func print(_ event: StreamEvent) {
        let key = "\(event.namespace)/\(event.runId)"
        var lines: [String] = []
        pendingText.withLock { pending in
            if event.type == .chunk {
                var text = pending[key] ?? PendingText()
                if text.count == 0 { text.firstSeq = event.seq }
                text.text += event.content["text"]?.stringValue ?? ""
                text.count += 1
                let trimmed = text.text.trimmingCharacters(in: .whitespaces)
                if trimmed.count >= Self.textLineLength
                    || (trimmed.count >= 24 && trimmed.last.map({ ".!?".contains($0) }) == true)
                {
                    lines.append(textLine(event, text))
                    pending[key] = nil
                } else {
                    pending[key] = text
                }
                return
            }
            if let text = pending.removeValue(forKey: key), text.count > 0 {
                lines.append(textLine(event, text))
            }
            lines.append(line(event, seq: "#\(event.seq)", type: event.type.rawValue, summary: Self.summary(event)))
        }
        guard !lines.isEmpty else { return }
        printFlushed(lines.joined(separator: "\n"))
    }

    private func textLine(_ event: StreamEvent, _ text: PendingText) -> String {
        let seq = text.count == 1 ? "#\(text.firstSeq)" : "#\(text.firstSeq)+"
        let quoted = "\"" + text.text.trimmingCharacters(in: .whitespacesAndNewlines) + "\""
        return line(event, seq: seq, type: "chunk", summary: quoted)
    }

    private func line(_ event: StreamEvent, seq: String, type: String, summary: String) -> String {
        let seqColumn = seq.padding(toLength: max(seq.count, 5), withPad: " ", startingAt: 0)
        let typeColumn = type.padding(toLength: max(type.count, 17), withPad: " ", startingAt: 0)
        return "\(label(namespace: event.namespace, runId: event.runId)) \(dim(seqColumn)) \(typeColumn) \(summary)"
    }

    /// A short description of an event's content.
    static func summary(_ event: StreamEvent) -> String {
        let c = event.content
        let text: String
        switch event.type {
        case .progress:
            let status = c["status"]?.stringValue ?? c.wireText
            text = c["step"]?.intValue.map { "\(status) (step \($0))" } ?? status
        case .decisionMade:
            let tools = (c["tools"]?.arrayValue ?? []).compactMap(\.stringValue)
            let decision = c["decision"]?.stringValue ?? "?"
            text = tools.isEmpty ? decision : "\(decision) → \(tools.joined(separator: ", "))"
        case .paramsGenerated:
            let calls = (c["calls"]?.arrayValue ?? []).map { call in
                let tool = call["tool"]?.stringValue ?? "?"
                if let error = call["error"] { return "\(tool) ✗ \(error.stringValue ?? error.wireText)" }
                return "\(tool) \(call["args"]?.wireText ?? "{}")"
            }
            text = calls.joined(separator: "; ")
        case .toolsExecuted:
            let results = (c["results"]?.arrayValue ?? []).map { r in
                let ok = r["ok"]?.boolValue == true ? "ok" : "failed"
                let ms = (r["ms"]?.doubleValue ?? r["ms"]?.intValue.map(Double.init)).map {
                    String(format: " %.1f ms", $0)
                }
                return "\(r["tool"]?.stringValue ?? "?") \(ok)\(ms ?? "")"
            }
            text = results.joined(separator: "; ")
        case .final:
            let answer = c["answer"]?.stringValue ?? c.wireText
            text = "answer ready (\(answer.count) characters)"
        case .error:
            text = c["message"]?.stringValue ?? c.wireText
        default:
            text = c.wireText
        }
        return text.count > summaryLength ? String(text.prefix(summaryLength - 1)) + "…" : text
    }

    private func paint(_ text: String, _ code: String) -> String {
        colored ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    private static func colorCode(for namespace: String) -> String {
        switch namespace {
        case "sales_agent": return "36"  // cyan
        case "stock_agent": return "35"  // magenta
        default:
            let palette = ["32", "33", "34", "91", "92", "94"]
            let sum = namespace.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFF }
            return palette[sum % palette.count]
        }
    }
}

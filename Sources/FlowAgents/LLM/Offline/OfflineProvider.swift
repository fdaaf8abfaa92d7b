import FlowCore
import Synchronization

/// A deterministic model for the demo agents: no keys, no network, same answer every time.
///
/// Given a question and tools, it picks tool calls by keyword and entity matching (regions, products,
/// categories and symbols come from the tools' schemas; periods, windows and limits from the text). Given
/// the tools' results, it writes an answer that uses their numbers; the text result of a tool it does not know
/// (an agent of your own with a tool of its own) it quotes as it is. Answers stream word by word, each token after
/// an optional delay (for load tests).
///
/// ```swift
/// let provider = OfflineProvider()
/// let reply = try await provider.complete(ChatRequest(messages: [.user("Top 3 products in 2024?")],
///                                                     tools: SalesTools.all().definitions))
/// // reply.toolCalls: top_products {"by": "revenue", "limit": 3, "start_date": "2024-01-01", ...}
/// ```
public struct OfflineProvider: LLMProvider {
    /// The pause before each streamed token.
    public var tokenDelay: Duration

    public init(tokenDelay: Duration = .zero) {
        self.tokenDelay = tokenDelay
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatDelta, any Error> {
        let pending = PendingDeltas(deltas(for: respond(to: request)))
        let delay = tokenDelay
        return AsyncThrowingStream(unfolding: {
            guard let next = pending.next() else { return nil }
            if delay > .zero, case .text = next { try await Task.sleep(for: delay) }
            return next
        })
    }

    /// The whole response to `request`, decided without streaming.
    public func respond(to request: ChatRequest) -> ChatCompletion {
        let lastUser = request.messages.lastIndex { $0.role == .user }
        let question = lastUser.map { request.messages[$0].content } ?? ""
        let since = lastUser.map { request.messages.index(after: $0) } ?? request.messages.startIndex
        let turn = request.messages[since...]
        let results = toolResults(in: turn)

        if results.isEmpty, request.toolChoice == .auto, !request.tools.isEmpty {
            let calls = OfflinePlanner(tools: request.tools).plan(question)
            if !calls.isEmpty {
                let round = request.messages.filter { $0.role == .assistant }.count + 1
                let toolCalls = calls.enumerated().map { i, call in
                    ToolCall(id: "call_\(round)_\(i + 1)", name: call.name, arguments: .object(call.arguments))
                }
                return ChatCompletion(text: "", toolCalls: toolCalls, finishReason: .toolCalls)
            }
        }
        if !results.isEmpty {
            return ChatCompletion(text: OfflineAnswerWriter().answer(results), toolCalls: [], finishReason: .stop)
        }
        return ChatCompletion(text: help(request.tools), toolCalls: [], finishReason: .stop)
    }

    /// Tool results of the current turn, each with the tool and arguments of the call it answers.
    private func toolResults(in turn: ArraySlice<ChatMessage>) -> [OfflineAnswerWriter.Result] {
        var calls: [String: ToolCall] = [:]
        for message in turn where message.role == .assistant {
            for call in message.toolCalls { calls[call.id] = call }
        }
        return turn.filter { $0.role == .tool }.map { message in
            let call = message.toolCallId.flatMap { calls[$0] }
            return OfflineAnswerWriter.Result(
                tool: message.name ?? call?.name ?? "tool",
                arguments: call.flatMap { JSONValue.parse($0.arguments) } ?? [:],
                content: JSONValue.parse(message.content) ?? .string(message.content)
            )
        }
    }

    private func help(_ tools: [ToolDefinition]) -> String {
        guard !tools.isEmpty else {
            return "I can only answer questions with the help of tools, and none are available."
        }
        let names = tools.map(\.name)
        if names.contains("total_sales") {
            return "I can answer questions about sales: totals, top products, sales by region and sales by month, "
                + "for a period, a region, a product or a category. For example: \"What were total sales in the "
                + "North region in March 2024?\""
        }
        if names.contains("last_price") {
            return "I can answer questions about stock prices: the last price, the change over a period, moving "
                + "averages and comparisons of two symbols. For example: \"How did NVDA perform over the last 30 days?\""
        }
        return "I can use these tools: \(names.joined(separator: ", ")). Please ask a question they can answer."
    }

    private func deltas(for completion: ChatCompletion) -> [ChatDelta] {
        Self.tokens(completion.text).map(ChatDelta.text) + completion.toolCalls.map(ChatDelta.toolCall)
            + [.finish(completion.finishReason)]
    }

    /// Splits text into word-ish tokens whose concatenation is the text: each word keeps its trailing space.
    package static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            if character == " " {
                current.append(character)
            } else {
                if current.last == " " {
                    tokens.append(current)
                    current = ""
                }
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}

/// The deltas of a response not yet handed out by its stream.
private final class PendingDeltas: Sendable {
    private let remaining: Mutex<ArraySlice<ChatDelta>>

    init(_ deltas: [ChatDelta]) {
        remaining = Mutex(deltas[...])
    }

    func next() -> ChatDelta? {
        remaining.withLock { $0.popFirst() }
    }
}

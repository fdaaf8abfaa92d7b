import FlowCore

/// How to find, feed and read an agent: what a flow registry needs to run it by name.
///
/// Input is `{"question": "<text>"}` (see ``makeStore(input:)``); the result is the answer string, the
/// run's ``FlowResult/value`` (see ``answer(from:)``).
public struct AgentDescriptor: Sendable {
    /// The agent's name, such as `sales_agent`.
    public let name: String
    /// The namespace its events go to unless the caller names another.
    public let defaultNamespace: String
    /// What the agent answers, in one sentence.
    public let summary: String
    /// An example input.
    public let exampleInput: JSONValue
    private let factory: @Sendable (any LLMProvider) -> Flow

    public init(
        name: String,
        defaultNamespace: String,
        summary: String,
        exampleInput: JSONValue,
        makeFlow: @escaping @Sendable (any LLMProvider) -> Flow
    ) {
        self.name = name
        self.defaultNamespace = defaultNamespace
        self.summary = summary
        self.exampleInput = exampleInput
        self.factory = makeFlow
    }

    /// The agent's flow, asking `provider`.
    public func makeFlow(provider: any LLMProvider = OfflineProvider()) -> Flow { factory(provider) }

    /// The longest question accepted, in characters.
    public static let maxQuestionLength = 2000

    /// A shared store for one run from `input`, which must be `{"question": "<non-empty text>"}`.
    ///
    /// - Throws: ``AgentError`` with code `.invalidInput`, saying what is expected.
    public func makeStore(input: JSONValue) throws(AgentError) -> SharedStore {
        guard let question = input["question"]?.stringValue else {
            throw AgentError(
                .invalidInput,
                "\(name) expects {\"question\": \"<text>\"}, got \(input.jsonText.prefix(80))"
            )
        }
        return try makeStore(question: question)
    }

    /// A shared store for one run answering `question`.
    ///
    /// - Throws: ``AgentError`` with code `.invalidInput` for an empty or over-long question.
    public func makeStore(question: String) throws(AgentError) -> SharedStore {
        let trimmed = question.trimmingWhitespace
        guard !trimmed.isEmpty else { throw AgentError(.invalidInput, "\(name): the question is empty") }
        guard trimmed.count <= Self.maxQuestionLength else {
            throw AgentError(
                .invalidInput,
                "\(name): the question has \(trimmed.count) characters; at most \(Self.maxQuestionLength)"
            )
        }
        return SharedStore([AgentKeys.question: .string(trimmed)])
    }

    /// The answer of a finished run: its result string.
    public static func answer(from result: FlowResult) -> String? { result.value.stringValue }
}

extension String {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

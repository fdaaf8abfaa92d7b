import FlowAgents
import FlowCore

/// `search_knowledge_base`: the help-desk articles that answer a question, as text the model can quote.
///
/// The result is one string, each article as `Title (article kb-101): body`, or a sentence listing the
/// topics covered when no article matches; a model reads either as it is.
public struct SearchKnowledgeBaseTool: Tool {
    public let knowledgeBase: KnowledgeBase

    public init(knowledgeBase: KnowledgeBase) {
        self.knowledgeBase = knowledgeBase
    }

    public var name: String { "search_knowledge_base" }
    public var description: String {
        "Searches the help-desk articles (account, sign-in, security, billing) for the ones that answer a question "
            + "and returns their text."
    }
    public var schema: ToolSchema {
        ToolSchema([
            ToolParameter("query", .string, "The user's question or its key words.", required: true, maxLength: 500),
            ToolParameter("limit", .integer, "The most articles returned (default 2).", minimum: 1, maximum: 5),
        ])
    }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        .string(text(for: knowledgeBase.search(arguments.string("query") ?? "", limit: arguments.int("limit") ?? 2)))
    }

    /// What the tool returns for `articles`, the result of a search.
    public func text(for articles: [Article]) -> String {
        guard !articles.isEmpty else {
            return "No help-desk article matches this question. The knowledge base covers: "
                + knowledgeBase.articles.map(\.title).joined(separator: "; ") + "."
        }
        return articles.map { "\($0.title) (article \($0.id)): \($0.body)" }.joined(separator: " ")
    }
}

import Foundation

/// The help-desk articles the support agent answers from, searched by keyword.
///
/// A search scores each article by the question's words it contains: 3 for a word of its title or keywords,
/// 1 for a word of its body. Articles scoring less than half the best are left out, so that a question about
/// one topic gets that topic's article alone.
///
/// ```swift
/// KnowledgeBase.shipped.search("How do I reset my password?").first?.title  // "Reset your password"
/// ```
public struct KnowledgeBase: Sendable {
    /// The articles, in the order given.
    public let articles: [Article]

    public init(_ articles: [Article]) {
        self.articles = articles
    }

    /// The articles this package ships (`Resources/articles.json`), read on first use.
    ///
    /// A bundle without them was built wrongly: the process stops with the reason.
    public static let shipped: KnowledgeBase = {
        guard let url = Bundle.module.url(forResource: "articles", withExtension: "json") else {
            fatalError("articles.json is missing from the SupportAgent resource bundle")
        }
        do {
            return try load(contentsOf: url)
        } catch {
            fatalError("\(error)")
        }
    }()

    /// The articles of a JSON file: an array of `{"id", "title", "keywords", "body"}`.
    ///
    /// - Throws: ``SupportAgentError`` when the file cannot be read or holds something else.
    public static func load(contentsOf url: URL) throws(SupportAgentError) -> KnowledgeBase {
        do {
            return KnowledgeBase(try JSONDecoder().decode([Article].self, from: Data(contentsOf: url)))
        } catch {
            throw SupportAgentError("cannot read the knowledge base at \(url.path): \(error)")
        }
    }

    /// The articles that answer `question` best, best first; empty when none shares a word with it.
    ///
    /// - Parameters:
    ///   - question: The user's words.
    ///   - limit: The most articles returned.
    public func search(_ question: String, limit: Int = 2) -> [Article] {
        let terms = Set(Self.terms(in: question))
        guard !terms.isEmpty else { return [] }
        let scored = articles.enumerated().map { index, article in
            let heading = Set(Self.terms(in: ([article.title] + article.keywords).joined(separator: " ")))
            let body = Set(Self.terms(in: article.body))
            let score = terms.reduce(0) { $0 + (heading.contains($1) ? 3 : 0) + (body.contains($1) ? 1 : 0) }
            return (index: index, score: score)
        }
        guard let best = scored.map(\.score).max(), best > 0 else { return [] }
        return
            scored
            .filter { $0.score * 2 >= best }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
            .prefix(max(0, limit))
            .map { articles[$0.index] }
    }

    /// Words that carry no topic.
    private static let stopWords: Set<String> = [
        "a", "an", "and", "are", "be", "can", "do", "doe", "for", "from", "get", "have", "how", "i", "in", "is", "it",
        "me", "my", "need", "of", "on", "or", "our", "please", "the", "to", "want", "we", "what", "when", "where",
        "which", "why", "will", "with", "you", "your",
    ]

    /// The lowercased words of `text` without stop words, a plural `s` removed ("passwords" → "password").
    static func terms(in text: String) -> [String] {
        text.lowercased()
            .split { !($0.isLetter || $0.isNumber) }
            .map { word in
                word.count > 3 && word.hasSuffix("s") && !word.hasSuffix("ss") ? String(word.dropLast()) : String(word)
            }
            .filter { !stopWords.contains($0) }
    }
}

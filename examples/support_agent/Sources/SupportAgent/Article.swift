/// One help-desk article of the knowledge base.
public struct Article: Sendable, Hashable, Codable {
    /// A stable identifier, such as `kb-101`.
    public var id: String
    public var title: String
    /// Words a question about the article is likely to use, besides those of its title.
    public var keywords: [String]
    public var body: String

    public init(id: String, title: String, keywords: [String] = [], body: String) {
        self.id = id
        self.title = title
        self.keywords = keywords
        self.body = body
    }
}

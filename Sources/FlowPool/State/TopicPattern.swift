/// A subscription pattern in its wire form: the topic prefix a SUB socket subscribes to.
///
/// - `sales_agent` → `sales_agent/` (every run of the namespace, not `sales_agent2`);
/// - `sales_agent/<runId>` → `sales_agent/<runId>/` (one run);
/// - `sales_*` → `sales_` (raw prefix); `*` alone → everything.
public struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as the user wrote it.
    public var pattern: String
    /// The topic prefix it selects.
    public var prefix: String

    /// Parses a pattern.
    /// - Throws: ``JSONWireError`` (`bad_field`) for an empty pattern, more than two segments, or a `*` that is
    ///   not the last character.
    public init(_ pattern: String) throws(JSONWireError) {
        self.pattern = pattern
        if pattern.hasSuffix("*") {
            let body = pattern.dropLast()
            guard !body.contains("*") else {
                throw JSONWireError(.badField, "pattern \"\(pattern)\": '*' may only end a pattern")
            }
            prefix = String(body)
            return
        }
        guard !pattern.isEmpty, !pattern.contains("*") else {
            throw JSONWireError(.badField, "pattern is empty; use \"*\" for every event")
        }
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }) else {
            throw JSONWireError(.badField, "pattern \"\(pattern)\" must be NS, NS/RUN or PREFIX*")
        }
        prefix = pattern + "/"
    }

    public var description: String { pattern }

    /// Whether the run `<namespace>/<runId>` is selected (the run key followed by `/`, as in its topics).
    public func matches(runKey: String) -> Bool {
        if prefix.utf8.count <= runKey.utf8.count { return (runKey + "/").hasPrefix(prefix) }
        // A prefix reaching into the type segment (`ns/run/fin*`) selects runs by their run key only.
        return prefix.hasPrefix(runKey + "/")
    }

    /// Whether a topic is selected.
    public func matches(topic: String) -> Bool { topic.hasPrefix(prefix) }
}

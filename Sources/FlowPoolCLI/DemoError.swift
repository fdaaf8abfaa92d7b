/// Why `flowpool demo` failed.
struct DemoError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    enum Code: String, Sendable {
        /// A pool process failed to start or exited early.
        case poolFailed = "pool_failed"
        /// Something did not happen in time.
        case timeout
        /// A run ended with an error.
        case runFailed = "run_failed"
        /// An event reached another namespace's subscription.
        case mixedNamespaces = "mixed_namespaces"
    }

    /// What went wrong.
    var code: Code
    /// What happened, for a person.
    var message: String
    /// Supporting lines, such as the end of a process's standard error.
    var details: [String]

    init(_ code: Code, _ message: String, details: [String] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    var description: String {
        let tail = details.suffix(12)
        guard !tail.isEmpty else { return message }
        return message + "; its last output:\n    " + tail.joined(separator: "\n    ")
    }
}

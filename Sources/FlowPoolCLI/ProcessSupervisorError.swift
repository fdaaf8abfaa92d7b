/// Why a supervised child process could not be run.
struct ProcessSupervisorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    enum Code: String, Sendable {
        /// The program could not be started.
        case spawnFailed = "spawn_failed"
    }

    /// What went wrong.
    var code: Code
    /// What happened, for a person.
    var message: String
    /// The error underneath, if any.
    var cause: (any Error & Sendable)?

    init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}

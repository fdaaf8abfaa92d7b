/// Why a supervised child process could not be run.
package struct ProcessSupervisorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    package enum Code: String, Sendable {
        /// The program could not be started.
        case spawnFailed = "spawn_failed"
        /// A child was told of a parent (``ParentDeathSignal/variable``) that is not its parent, or that has
        /// already exited.
        case parentMismatch = "parent_mismatch"
        /// The parent-death signal could not be set.
        case parentDeathSignalFailed = "parent_death_signal_failed"
    }

    /// What went wrong.
    package var code: Code
    /// What happened, for a person.
    package var message: String
    /// The error underneath, if any.
    package var cause: (any Error & Sendable)?

    package init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    package var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}

/// A failure reported by SQLite, with its result code and message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// The database could not be opened.
        case open
        /// A statement could not be compiled.
        case prepare
        /// A parameter could not be bound.
        case bind
        /// Stepping a statement failed.
        case step
        /// A column held a value of another type than asked for.
        case type
    }

    /// The kind of failure.
    public var code: Code
    /// SQLite's result code (`SQLITE_*`), or 0 when the failure is ours.
    public var resultCode: Int32
    /// What happened, including `sqlite3_errmsg` when SQLite reported it.
    public var message: String

    public init(code: Code, resultCode: Int32, message: String) {
        self.code = code
        self.resultCode = resultCode
        self.message = message
    }

    public var description: String { "SQLite \(code) error (\(resultCode)): \(message)" }
}

import CSQLite

/// An open SQLite database: a thin, blocking wrapper over one `sqlite3` handle.
///
/// Values only ever reach SQL through bound parameters (``query(_:_:)`` and ``execute(_:_:)`` take the
/// SQL text and the values separately); nothing in this type splices values into SQL.
///
/// Every call blocks the calling thread. A connection is not thread-safe: use it from one thread or
/// serial queue at a time (``SalesDatabase`` owns one on a dedicated serial queue).
public final class SQLiteConnection {
    /// How to open a database.
    public enum Mode: Sendable {
        /// Open an existing database read-only.
        case readOnly
        /// Open read-write, creating the file when missing.
        case readWriteCreate
    }

    private let handle: OpaquePointer

    /// Opens the database at `path`.
    ///
    /// - Throws: ``SQLiteError`` with code `.open` when the file cannot be opened in that mode.
    public init(path: String, mode: Mode) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags: Int32 =
            switch mode {
            case .readOnly: SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            case .readWriteCreate: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
            }
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: .open, resultCode: rc, message: "cannot open \(path): \(message)")
        }
        handle = db
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs a statement that returns no rows (or whose rows are ignored), once per call.
    ///
    /// - Parameters:
    ///   - sql: One SQL statement, with `?` placeholders for values.
    ///   - parameters: The values bound to the placeholders, in order.
    public func execute(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        while try statement.step() {}
    }

    /// Runs a query and returns all its rows.
    ///
    /// - Parameters:
    ///   - sql: One SQL statement, with `?` placeholders for values.
    ///   - parameters: The values bound to the placeholders, in order.
    /// - Returns: The rows, each as its columns' values in order.
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        var rows: [[SQLiteValue]] = []
        while try statement.step() {
            rows.append(statement.row())
        }
        return rows
    }

    /// Compiles one statement, to run many times with different parameters (``SQLiteStatement/reset()``).
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &raw, nil)
        guard rc == SQLITE_OK, let raw else {
            throw SQLiteError(code: .prepare, resultCode: rc, message: errorMessage)
        }
        return SQLiteStatement(raw, connection: self)
    }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }
}

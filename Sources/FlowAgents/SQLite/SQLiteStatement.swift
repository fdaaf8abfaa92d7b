import CSQLite

/// A compiled SQL statement of a ``SQLiteConnection``; values reach it only through ``bind(_:)``.
public final class SQLiteStatement {
    private let raw: OpaquePointer
    private let connection: SQLiteConnection

    init(_ raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(raw)
    }

    /// Binds `values` to the statement's `?` placeholders, in order.
    ///
    /// - Throws: ``SQLiteError`` with code `.bind` when the count does not match the placeholders.
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(raw))
        guard values.count == expected else {
            throw SQLiteError(
                code: .bind,
                resultCode: SQLITE_RANGE,
                message: "statement expects \(expected) parameters, got \(values.count)"
            )
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32 =
                switch value {
                case .null: sqlite3_bind_null(raw, index)
                case .integer(let i): sqlite3_bind_int64(raw, index, i)
                case .real(let d): sqlite3_bind_double(raw, index, d)
                case .text(let s): sqlite3_bind_text(raw, index, s, -1, sqliteTransient)
                }
            guard rc == SQLITE_OK else {
                throw SQLiteError(code: .bind, resultCode: rc, message: connection.errorMessage)
            }
        }
    }

    /// Advances to the next row.
    ///
    /// - Returns: `true` when a row is available, `false` when the statement is done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: .step, resultCode: rc, message: connection.errorMessage)
        }
    }

    /// The current row's values, in column order.
    public func row() -> [SQLiteValue] {
        (0..<sqlite3_column_count(raw)).map { column(Int32($0)) }
    }

    /// Resets the statement to run again and clears its bindings.
    public func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    private func column(_ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(raw, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(raw, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(raw, index))
        case SQLITE_NULL: return .null
        default:
            guard let text = sqlite3_column_text(raw, index) else { return .null }
            return .text(String(cString: text))
        }
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

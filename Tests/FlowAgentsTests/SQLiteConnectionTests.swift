import FlowAgents
import Foundation
import Testing

@Suite struct SQLiteConnectionTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("flowagents-test-\(UUID().uuidString).sqlite")
            .path
    }

    @Test func boundValuesRoundTripAndHostileTextIsInert() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("CREATE TABLE t (name TEXT, n INTEGER, x REAL, missing TEXT)")
        let hostile = "x'); DROP TABLE t; --"
        try db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", [.text(hostile), .integer(42), .real(1.5), .null])
        let rows = try db.query("SELECT name, n, x, missing FROM t WHERE name = ?", [.text(hostile)])
        #expect(rows == [[.text(hostile), .integer(42), .real(1.5), .null]])
        // The table survived: the text was a value, never SQL.
        #expect(try db.query("SELECT COUNT(*) FROM t") == [[.integer(1)]])
        #expect(try db.query("SELECT COUNT(*) FROM t WHERE name = ?", ["' OR '1'='1"]) == [[.integer(0)]])
    }

    @Test func readOnlyConnectionRejectsWrites() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SQLiteConnection(path: path, mode: .readWriteCreate).execute("CREATE TABLE t (a INTEGER)")
        let db = try SQLiteConnection(path: path, mode: .readOnly)
        let error = #expect(throws: SQLiteError.self) { try db.execute("INSERT INTO t VALUES (?)", [1]) }
        #expect(error?.code == .step)
        #expect(error?.message.contains("readonly") == true)
    }

    @Test func errorsCarrySQLiteMessages() throws {
        let missing = #expect(throws: SQLiteError.self) {
            try SQLiteConnection(path: "/nonexistent/dir/db.sqlite", mode: .readOnly)
        }
        #expect(missing?.code == .open)
        let db = try SQLiteConnection(path: ":memory:", mode: .readWriteCreate)
        let syntax = #expect(throws: SQLiteError.self) { try db.query("SELEC 1") }
        #expect(syntax?.code == .prepare)
        #expect(syntax?.message.contains("syntax error") == true)
        let count = #expect(throws: SQLiteError.self) { try db.query("SELECT ?", []) }
        #expect(count?.code == .bind)
    }

    @Test func transactionRollsBackOnError() throws {
        let db = try SQLiteConnection(path: ":memory:", mode: .readWriteCreate)
        try db.execute("CREATE TABLE t (a INTEGER)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.execute("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(try db.query("SELECT COUNT(*) FROM t") == [[.integer(0)]])
    }
}

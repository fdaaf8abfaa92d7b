import Foundation

/// The sales data set as a read-only SQLite database, queried on a dedicated serial queue.
///
/// The database file is built from the shipped CSV on first use, deterministically, into
/// `<temporary directory>/flowpool/sales-<content hash>.sqlite` (written to a temporary name, then
/// renamed into place, so concurrent processes never see a half-built file), then opened read-only.
/// Every query runs on the instance's own serial queue, never on Swift's cooperative pool.
public final class SalesDatabase: Sendable {
    private let csvURL: URL
    private let cacheDirectory: URL
    private let worker = BlockingQueue(label: "flowpool.sales-db")
    /// The open connection; touched only from `worker`'s serial queue.
    private let state = ConnectionBox()

    /// A database over `csv` (the shipped data set by default), cached in `cacheDirectory`.
    public init(csv: URL? = nil, cacheDirectory: URL? = nil) {
        self.csvURL = csv ?? AgentData.salesCSV
        self.cacheDirectory =
            cacheDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("flowpool")
    }

    /// The process-wide database over the shipped data set.
    public static let shared = SalesDatabase()

    /// Runs `body` with the read-only connection, on the database's serial queue.
    ///
    /// - Throws: ``SQLiteError`` when the database cannot be built or opened, or what `body` throws.
    public func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await worker.run { [self] in
            try body(try connection())
        }
    }

    /// The path of the built database file (built on first use).
    public func databasePath() async throws -> String {
        try await worker.run { [self] in
            try buildIfNeeded()
        }
    }

    private func connection() throws -> SQLiteConnection {
        if let open = state.connection { return open }
        let path = try buildIfNeeded()
        let connection = try SQLiteConnection(path: path, mode: .readOnly)
        state.connection = connection
        return connection
    }

    private func buildIfNeeded() throws -> String {
        let csv = try Data(contentsOf: csvURL)
        let name = "sales-\(String(fnv1a64(csv), radix: 16)).sqlite"
        let target = cacheDirectory.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: target.path) { return target.path }
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        let temporary = cacheDirectory.appendingPathComponent(
            "\(name).\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).tmp"
        )
        defer { try? FileManager.default.removeItem(at: temporary) }
        do {
            let db = try SQLiteConnection(path: temporary.path, mode: .readWriteCreate)
            try Self.load(csv: csv, into: db)
        }
        if rename(temporary.path, target.path) != 0, !FileManager.default.fileExists(atPath: target.path) {
            throw SQLiteError(code: .open, resultCode: 0, message: "cannot move the built database to \(target.path)")
        }
        return target.path
    }

    private static func load(csv: Data, into db: SQLiteConnection) throws {
        try db.execute(
            """
            CREATE TABLE orders (
                order_id INTEGER PRIMARY KEY, order_date TEXT NOT NULL, month TEXT NOT NULL,
                region TEXT NOT NULL, product TEXT NOT NULL, category TEXT NOT NULL,
                quantity INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL, customer TEXT NOT NULL)
            """
        )
        let text = String(decoding: csv, as: UTF8.self)
        try db.transaction {
            let insert = try db.prepare("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard f.count == 8, let id = Int64(f[0]), let quantity = Int64(f[5]),
                    let cents = parseCents(f[6])
                else {
                    throw SQLiteError(code: .step, resultCode: 0, message: "malformed sales row: \(line)")
                }
                insert.reset()
                try insert.bind([
                    .integer(id), .text(f[1]), .text(String(f[1].prefix(7))), .text(f[2]), .text(f[3]),
                    .text(f[4]), .integer(quantity), .integer(cents), .text(f[7]),
                ])
                _ = try insert.step()
            }
        }
        try db.execute("CREATE INDEX orders_date ON orders(order_date)")
    }
}

/// Parses `"123.45"` into 12345 cents.
func parseCents(_ text: String) -> Int64? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard let whole = Int64(parts[0]) else { return nil }
    guard parts.count == 2 else { return parts.count == 1 ? whole * 100 : nil }
    let fraction = parts[1].padding(toLength: 2, withPad: "0", startingAt: 0)
    guard parts[1].count <= 2, let cents = Int64(fraction) else { return nil }
    return whole * 100 + cents
}

/// FNV-1a, 64-bit: a stable content hash for cache file names.
func fnv1a64(_ data: Data) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}

/// Holds the connection of a ``SalesDatabase``.
///
/// `@unchecked Sendable` is safe: `connection` is read and written only on the owning database's
/// serial queue, so it is never accessed concurrently.
private final class ConnectionBox: @unchecked Sendable {
    var connection: SQLiteConnection?
}

import FlowCore

/// `total_sales`: revenue, units and orders, optionally for a period, region, product or category.
public struct TotalSalesTool: Tool {
    private let database: SalesDatabase

    public init(database: SalesDatabase = .shared) {
        self.database = database
    }

    public var name: String { "total_sales" }
    public var description: String {
        "Total revenue (USD), units sold and number of orders, optionally filtered by date range, region, "
            + "product or category."
    }
    public var schema: ToolSchema { ToolSchema(SalesFilter.parameters()) }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let filter = try SalesFilter(arguments, tool: name)
        let (clause, parameters) = filter.whereClause
        let sql = """
            SELECT COALESCE(SUM(quantity * unit_price_cents), 0), COALESCE(SUM(quantity), 0), COUNT(*)
            FROM orders \(clause)
            """
        let row = try await database.read { db in try db.query(sql, parameters)[0] }
        return [
            "revenue": dollars(row.int(0)),
            "units": .int(Int(row.int(1))),
            "orders": .int(Int(row.int(2))),
            "filters": filter.json,
        ]
    }
}

import FlowCore

/// `sales_by_month`: revenue, units and orders per calendar month, oldest first.
public struct SalesByMonthTool: Tool {
    private let database: SalesDatabase

    public init(database: SalesDatabase = .shared) {
        self.database = database
    }

    public var name: String { "sales_by_month" }
    public var description: String {
        "Revenue (USD), units and orders per calendar month (YYYY-MM), oldest first, optionally within a "
            + "date range or for one region, product or category."
    }
    public var schema: ToolSchema { ToolSchema(SalesFilter.parameters()) }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let filter = try SalesFilter(arguments, tool: name)
        let (clause, parameters) = filter.whereClause
        let sql = """
            SELECT month, SUM(quantity * unit_price_cents), SUM(quantity), COUNT(*)
            FROM orders \(clause) GROUP BY month ORDER BY month
            """
        let rows = try await database.read { db in try db.query(sql, parameters) }
        let months: [JSONValue] = rows.map { row in
            [
                "month": .string(row.text(0)), "revenue": dollars(row.int(1)), "units": .int(Int(row.int(2))),
                "orders": .int(Int(row.int(3))),
            ]
        }
        return ["months": .array(months), "filters": filter.json]
    }
}

import FlowCore

/// `sales_by_region`: revenue, units and orders per region, highest revenue first.
public struct SalesByRegionTool: Tool {
    private let database: SalesDatabase

    public init(database: SalesDatabase = .shared) {
        self.database = database
    }

    public var name: String { "sales_by_region" }
    public var description: String {
        "Revenue (USD), units and orders per region, highest revenue first, optionally within a date range "
            + "or for one product or category."
    }
    public var schema: ToolSchema { ToolSchema(SalesFilter.parameters(region: false)) }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let filter = try SalesFilter(arguments, tool: name)
        let (clause, parameters) = filter.whereClause
        let sql = """
            SELECT region, SUM(quantity * unit_price_cents) AS revenue, SUM(quantity), COUNT(*)
            FROM orders \(clause) GROUP BY region ORDER BY revenue DESC, region
            """
        let rows = try await database.read { db in try db.query(sql, parameters) }
        let regions: [JSONValue] = rows.map { row in
            [
                "region": .string(row.text(0)), "revenue": dollars(row.int(1)), "units": .int(Int(row.int(2))),
                "orders": .int(Int(row.int(3))),
            ]
        }
        return ["regions": .array(regions), "filters": filter.json]
    }
}

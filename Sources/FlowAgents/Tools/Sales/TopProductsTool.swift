import FlowCore

/// `top_products`: the best-selling products by revenue or units.
public struct TopProductsTool: Tool {
    private let database: SalesDatabase

    public init(database: SalesDatabase = .shared) {
        self.database = database
    }

    public var name: String { "top_products" }
    public var description: String {
        "The best-selling products ranked by revenue or by units, optionally within a date range, region "
            + "or category."
    }
    public var schema: ToolSchema {
        ToolSchema(
            [
                ToolParameter(
                    "by",
                    .string,
                    "Rank by 'revenue' (default) or 'units'",
                    allowedValues: ["revenue", "units"]
                ),
                ToolParameter("limit", .integer, "How many products (default 5)", minimum: 1, maximum: 20),
            ] + SalesFilter.parameters(product: false)
                + [ToolParameter("category", .string, "Only this category", allowedValues: SalesCatalog.categories)]
        )
    }

    public func call(_ arguments: ToolArguments) async throws -> JSONValue {
        let filter = try SalesFilter(arguments, tool: name)
        let by = arguments.string("by") ?? "revenue"
        let limit = arguments.int("limit") ?? 5
        let (clause, parameters) = filter.whereClause
        // The ORDER BY column is one of two fixed fragments chosen by a validated enumeration.
        let order = by == "units" ? "units DESC, revenue DESC" : "revenue DESC, units DESC"
        let sql = """
            SELECT product, category, SUM(quantity * unit_price_cents) AS revenue, SUM(quantity) AS units
            FROM orders \(clause) GROUP BY product, category ORDER BY \(order), product LIMIT ?
            """
        let rows = try await database.read { db in try db.query(sql, parameters + [.integer(Int64(limit))]) }
        let products: [JSONValue] = rows.map { row in
            [
                "product": .string(row.text(0)), "category": .string(row.text(1)), "revenue": dollars(row.int(2)),
                "units": .int(Int(row.int(3))),
            ]
        }
        return ["by": .string(by), "products": .array(products), "filters": filter.json]
    }
}

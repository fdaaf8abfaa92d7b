import FlowCore

/// The optional filters the sales tools share: a date range, a region, a product and a category.
///
/// It turns them into a `WHERE` clause made only of fixed SQL fragments with `?` placeholders; the values
/// travel separately as bound parameters.
struct SalesFilter {
    var startDate: String?
    var endDate: String?
    var region: String?
    var product: String?
    var category: String?

    /// The filter parameters, with the data set's values as enumerations.
    static func parameters(region: Bool = true, product: Bool = true) -> [ToolParameter] {
        let coverage = (SalesCatalog.firstDate, SalesCatalog.lastDate)
        var parameters = [
            ToolParameter(
                "start_date",
                .date,
                "First day included, YYYY-MM-DD (data: \(SalesCatalog.firstDate) to \(SalesCatalog.lastDate))",
                coverage: coverage
            ),
            ToolParameter("end_date", .date, "Last day included, YYYY-MM-DD", coverage: coverage),
        ]
        if region {
            parameters.append(
                ToolParameter("region", .string, "Only this region", allowedValues: SalesCatalog.regions)
            )
        }
        if product {
            parameters.append(
                ToolParameter("product", .string, "Only this product", allowedValues: SalesCatalog.products)
            )
            parameters.append(
                ToolParameter("category", .string, "Only this category", allowedValues: SalesCatalog.categories)
            )
        }
        return parameters
    }

    init(_ arguments: ToolArguments, tool: String) throws(ToolError) {
        startDate = arguments.string("start_date")
        endDate = arguments.string("end_date")
        region = arguments.string("region")
        product = arguments.string("product")
        category = arguments.string("category")
        if let startDate, let endDate, startDate > endDate {
            throw ToolError(
                .invalidArguments,
                "\(tool): start_date \(startDate) is after end_date \(endDate); expected start_date <= end_date"
            )
        }
        if let startDate, startDate > SalesCatalog.lastDate {
            throw outOfRange(tool)
        }
        if let endDate, endDate < SalesCatalog.firstDate {
            throw outOfRange(tool)
        }
    }

    private func outOfRange(_ tool: String) -> ToolError {
        ToolError(
            .notFound,
            "\(tool): no orders in \(startDate ?? "…") to \(endDate ?? "…"); the data covers "
                + "\(SalesCatalog.firstDate) to \(SalesCatalog.lastDate)"
        )
    }

    /// `WHERE …` (or an empty string) and the values for its placeholders.
    var whereClause: (sql: String, parameters: [SQLiteValue]) {
        var terms: [String] = []
        var values: [SQLiteValue] = []
        if let startDate {
            terms.append("order_date >= ?")
            values.append(.text(startDate))
        }
        if let endDate {
            terms.append("order_date <= ?")
            values.append(.text(endDate))
        }
        if let region {
            terms.append("region = ?")
            values.append(.text(region))
        }
        if let product {
            terms.append("product = ?")
            values.append(.text(product))
        }
        if let category {
            terms.append("category = ?")
            values.append(.text(category))
        }
        return (terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "), values)
    }

    /// The filters in effect, for the result.
    var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let startDate { object["start_date"] = .string(startDate) }
        if let endDate { object["end_date"] = .string(endDate) }
        if let region { object["region"] = .string(region) }
        if let product { object["product"] = .string(product) }
        if let category { object["category"] = .string(category) }
        return .object(object)
    }
}

/// Cents as a dollar amount with two decimals.
func dollars(_ cents: Int64) -> JSONValue { .double(Double(cents) / 100) }

extension [SQLiteValue] {
    func int(_ index: Int) -> Int64 { self[index].int64 ?? 0 }
    func text(_ index: Int) -> String { self[index].string ?? "" }
}

import FlowAgents
import FlowCore
import Foundation
import Testing

@Suite struct SalesToolsTests {
    let tools = SalesTools.all()

    private func call(_ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        try await tools.tool(named: name).call(json: arguments)
    }

    private func toolError(_ name: String, _ arguments: JSONValue) async -> ToolError? {
        await #expect(throws: ToolError.self) { try await call(name, arguments) }
    }

    @Test func catalogMatchesTheShippedData() {
        let rows = ReferenceData.sales
        #expect(rows.count > 3000)
        #expect(Set(rows.map(\.region)) == Set(SalesCatalog.regions))
        #expect(Set(rows.map(\.product)) == Set(SalesCatalog.products))
        #expect(Set(rows.map(\.category)) == Set(SalesCatalog.categories))
        #expect(rows.map(\.date).min() == SalesCatalog.firstDate)
        #expect(rows.map(\.date).max() == SalesCatalog.lastDate)
        #expect(Set(rows.map { $0.date.prefix(7) }).count >= 12)
    }

    @Test func totalSalesMatchesIndependentSums() async throws {
        let all = try await call("total_sales", [:])
        let cents = ReferenceData.revenueCents { _ in true }
        #expect(all["revenue"]?.doubleValue == Double(cents) / 100)
        #expect(all["orders"]?.intValue == ReferenceData.sales.count)

        let filtered = try await call(
            "total_sales",
            ["region": "west", "product": "Laptop", "start_date": "2024-04-01", "end_date": "2024-06-30"]
        )
        let expected = ReferenceData.revenueCents {
            $0.region == "West" && $0.product == "Laptop" && $0.date >= "2024-04-01" && $0.date <= "2024-06-30"
        }
        #expect(filtered["revenue"]?.doubleValue == Double(expected) / 100)
        #expect(filtered["filters"]?["region"] == "West")
    }

    @Test func topProductsRanksByUnitsOrRevenueWithLimit() async throws {
        let result = try await call("top_products", ["by": "units", "limit": 3, "category": "Sports"])
        let products = try #require(result["products"]?.arrayValue)
        #expect(products.count == 2)  // Sports has two products
        var units: [String: Int] = [:]
        for row in ReferenceData.sales where row.category == "Sports" { units[row.product, default: 0] += row.quantity }
        let best = units.max { $0.value < $1.value }!
        #expect(products[0]["product"] == .string(best.key))
        #expect(products[0]["units"] == .int(best.value))

        let byRevenue = try await call("top_products", ["limit": 1])
        #expect(byRevenue["products"]?.arrayValue?.count == 1)
        #expect(byRevenue["by"] == "revenue")
    }

    @Test func byRegionAndByMonthAddUpToTheTotal() async throws {
        let total = try await call("total_sales", ["start_date": "2024-01-01", "end_date": "2024-12-31"])
        let regions = try await call("sales_by_region", ["start_date": "2024-01-01", "end_date": "2024-12-31"])
        let months = try await call("sales_by_month", ["start_date": "2024-01-01", "end_date": "2024-12-31"])
        let cents = { (items: [JSONValue]) in
            items.reduce(0) { $0 + Int((($1["revenue"]?.doubleValue ?? 0) * 100).rounded()) }
        }
        let totalCents = Int(((total["revenue"]?.doubleValue ?? 0) * 100).rounded())
        #expect(cents(regions["regions"]?.arrayValue ?? []) == totalCents)
        #expect(cents(months["months"]?.arrayValue ?? []) == totalCents)
        #expect(months["months"]?.arrayValue?.count == 12)
        #expect(regions["regions"]?.arrayValue?.count == 5)
    }

    @Test func hostileArgumentsAreRejectedWithTheValidChoices() async {
        let injection = await toolError("total_sales", ["region": "North' OR '1'='1"])
        #expect(injection?.code == .invalidArguments)
        #expect(injection?.message.contains("North, South, East, West, Central") == true)

        let product = await toolError("top_products", ["region": "Atlantis"])
        #expect(product?.message.contains("'region' must be one of") == true)

        let dateInjection = await toolError("sales_by_month", ["start_date": "2024-01-01' --"])
        #expect(dateInjection?.message.contains("YYYY-MM-DD") == true)

        let limit = await toolError("top_products", ["limit": 1_000_000])
        #expect(limit?.message.contains("at most 20") == true)

        let wrongType = await toolError("top_products", ["limit": "5; DROP TABLE orders"])
        #expect(wrongType?.message.contains("must be an integer") == true)

        let reversed = await toolError("total_sales", ["start_date": "2024-12-01", "end_date": "2024-01-01"])
        #expect(reversed?.code == .invalidArguments)

        let outside = await toolError("total_sales", ["start_date": "2030-01-01"])
        #expect(outside?.code == .notFound)
        #expect(outside?.message.contains("2024-01-01 to 2025-06-30") == true)

        let unknown = #expect(throws: ToolError.self) { try tools.tool(named: "drop_tables") }
        #expect(unknown?.code == .unknownTool)
        #expect(unknown?.message.contains("total_sales, top_products, sales_by_region, sales_by_month") == true)
    }

    @Test func databaseIsBuiltOnceAndReadOnly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flowagents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = SalesDatabase(cacheDirectory: directory)
        let path = try await database.databasePath()
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try await SalesDatabase(cacheDirectory: directory).databasePath() == path)
        let error = await #expect(throws: SQLiteError.self) {
            try await database.read { db in try db.execute("DELETE FROM orders") }
        }
        #expect(error?.message.contains("readonly") == true)
    }
}

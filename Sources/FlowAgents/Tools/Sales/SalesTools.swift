/// The tools of `sales_agent`.
public enum SalesTools {
    /// `total_sales`, `top_products`, `sales_by_region` and `sales_by_month` over `database`.
    public static func all(database: SalesDatabase = .shared) -> Toolbox {
        Toolbox([
            TotalSalesTool(database: database),
            TopProductsTool(database: database),
            SalesByRegionTool(database: database),
            SalesByMonthTool(database: database),
        ])
    }
}

import FlowCore
import Foundation

/// Chooses tool calls for a question by keyword and entity matching, for ``OfflineProvider``.
///
/// Entities (regions, products, categories, symbols) are the enumerations declared in the offered tools'
/// schemas, so the planner knows exactly the values the tools accept. Relative periods count back from the
/// last day the data covers (the `formatMaximum` of a tool's `start_date`).
struct OfflinePlanner {
    let tools: [ToolDefinition]

    /// A planned call: tool name and arguments.
    struct Call: Equatable {
        var name: String
        var arguments: [String: JSONValue]
    }

    /// Company names the stock questions may use instead of tickers.
    private static let companies = [
        "apple": "AAPL", "microsoft": "MSFT", "google": "GOOGL", "alphabet": "GOOGL", "amazon": "AMZN",
        "nvidia": "NVDA", "tesla": "TSLA", "meta": "META", "facebook": "META", "netflix": "NFLX",
    ]

    func plan(_ question: String) -> [Call] {
        if has("total_sales") || has("top_products") || has("sales_by_region") || has("sales_by_month") {
            let calls = planSales(question)
            if !calls.isEmpty { return calls }
        }
        if has("last_price") || has("price_change") || has("moving_average") || has("compare_symbols") {
            return planStock(question)
        }
        return []
    }

    // MARK: Sales

    private func planSales(_ question: String) -> [Call] {
        let q = question.lowercased()
        var regions = mentions(in: q, of: enumValues("region"))
        if regions.isEmpty, let unknown = unknownRegion(in: question) {
            // Passed on as asked: the tool's validation names the valid regions.
            regions = [unknown]
        }
        let products = mentions(in: q, of: enumValues("product"))
        let categories = mentions(in: q, of: enumValues("category"))
        let period = PeriodParser(latest: latestDate(), prefersDays: false).parse(question)
        var dates: [String: JSONValue] = [:]
        if let start = period.start ?? period.day { dates["start_date"] = .string(start) }
        if let end = period.end ?? period.day { dates["end_date"] = .string(end) }

        if has("top_products"),
            q.containsAny(
                "top",
                "best",
                "most popular",
                "best-selling",
                "bestselling",
                "sold the most",
                "most sold",
                "leading product",
                "ranking"
            )
        {
            var arguments = dates
            arguments["by"] =
                q.containsAny("unit", "quantit", "volume", "sold the most", "most sold", "how many")
                ? "units" : "revenue"
            if let match = q.firstMatch(
                of: /\btop\s+(\d+|three|five|ten|two|four|six|seven|eight|nine|twelve|fifteen|twenty)\b/
            ),
                let n = PeriodParser.number(String(match.output.1))
            {
                arguments["limit"] = .int(n)
            }
            if let category = categories.first { arguments["category"] = .string(category) }
            if regions.isEmpty { return [Call(name: "top_products", arguments: arguments)] }
            return regions.map { region in
                var a = arguments
                a["region"] = .string(region)
                return Call(name: "top_products", arguments: a)
            }
        }

        if has("sales_by_month"),
            q.containsAny(
                "monthly",
                "per month",
                "by month",
                "each month",
                "month by month",
                "month-by-month",
                "trend",
                "which month",
                "best month",
                "worst month",
                "strongest month",
                "weakest month"
            )
        {
            var arguments = dates
            if regions.count == 1 { arguments["region"] = .string(regions[0]) }
            if let product = products.first { arguments["product"] = .string(product) }
            if products.isEmpty, let category = categories.first { arguments["category"] = .string(category) }
            return [Call(name: "sales_by_month", arguments: arguments)]
        }

        if has("sales_by_region"), q.contains("region"), regions.count != 1,
            regions.isEmpty || q.containsAny("each", "by region", "per region", "all", "across", "every")
        {
            var arguments = dates
            if let product = products.first { arguments["product"] = .string(product) }
            if products.isEmpty, let category = categories.first { arguments["category"] = .string(category) }
            return [Call(name: "sales_by_region", arguments: arguments)]
        }

        guard has("total_sales"),
            !regions.isEmpty || !products.isEmpty || !categories.isEmpty || !period.isEmpty
                || q.containsAny("sales", "revenue", "sold", "total", "how much", "units", "orders", "earn", "turnover")
        else { return [] }
        // One call per region × product (or category) named, so each gets its own figure.
        var calls: [Call] = []
        let regionChoices: [String?] = regions.isEmpty ? [nil] : regions
        let itemChoices: [(String, String)?] =
            !products.isEmpty
            ? products.map { ("product", $0) }
            : !categories.isEmpty ? categories.map { ("category", $0) } : [nil]
        for region in regionChoices {
            for item in itemChoices {
                var arguments = dates
                if let region { arguments["region"] = .string(region) }
                if let (key, value) = item { arguments[key] = .string(value) }
                calls.append(Call(name: "total_sales", arguments: arguments))
            }
        }
        return Array(calls.prefix(8))
    }

    // MARK: Stock

    private func planStock(_ question: String) -> [Call] {
        let q = question.lowercased()
        var symbols = symbolsMentioned(in: question)
        if symbols.isEmpty {
            // Ticker-like words that are not known symbols are passed on as asked: the tool's validation
            // then names the valid symbols.
            symbols = tickerLikeWords(in: question)
        }
        guard !symbols.isEmpty else { return [] }
        let period = PeriodParser(latest: latestDate(), prefersDays: true).parse(question)
        var range: [String: JSONValue] = [:]
        if let start = period.start { range["start_date"] = .string(start) }
        if let end = period.end ?? (period.start == nil ? period.day : nil) { range["end_date"] = .string(end) }
        if let days = period.days { range["days"] = .int(min(days, 500)) }

        if has("compare_symbols"), symbols.count >= 2,
            q.containsAny("compare", " vs", "versus", "better", "outperform", "against", "which of", "difference")
        {
            var arguments = range
            arguments["symbol_a"] = .string(symbols[0])
            arguments["symbol_b"] = .string(symbols[1])
            return [Call(name: "compare_symbols", arguments: arguments)]
        }
        if has("moving_average"), q.containsAny("moving average", "sma", "average", " ma ") {
            var arguments: [String: JSONValue] = [:]
            if let match = q.firstMatch(of: /\b(\d+)[- ]?(?:trading[- ])?days?\b/), let n = Int(match.output.1) {
                arguments["window"] = .int(n)
            }
            if let day = period.day ?? period.end { arguments["date"] = .string(day) }
            return symbols.map { symbol in
                var a = arguments
                a["symbol"] = .string(symbol)
                return Call(name: "moving_average", arguments: a)
            }
        }
        let wantsChange =
            q.containsAny(
                "change",
                "perform",
                "move",
                "moved",
                "gain",
                "lose",
                "lost",
                "return",
                "up or down",
                "trend",
                "grow",
                "grew",
                "drop",
                "fell",
                "fall",
                "rise",
                "rose",
                "since",
                "over the"
            ) || period.start != nil || period.days != nil
        if has("price_change"), wantsChange {
            return symbols.map { symbol in
                var a = range
                a["symbol"] = .string(symbol)
                return Call(name: "price_change", arguments: a)
            }
        }
        guard has("last_price") else { return [] }
        return symbols.map { symbol in
            var a: [String: JSONValue] = ["symbol": .string(symbol)]
            if let day = period.day { a["date"] = .string(day) }
            return Call(name: "last_price", arguments: a)
        }
    }

    /// Words that are not tickers even though they are written in capitals.
    private static let notTickers: Set<String> = [
        "I", "A", "US", "USA", "USD", "EUR", "ETF", "CEO", "CFO", "AI", "SMA", "EMA", "MA", "YTD", "EPS", "IPO",
        "PE", "Q", "OK", "VS", "AND", "OR", "THE", "WHAT", "HOW",
    ]

    private func tickerLikeWords(in question: String) -> [String] {
        var seen: Set<String> = []
        return question.matches(of: /\b[A-Z]{2,5}\b/).map { String($0.output) }
            .filter { !Self.notTickers.contains($0) && !$0.hasPrefix("Q") && seen.insert($0).inserted }
    }

    /// "in the Europe region" → "Europe", when the name is none of the known regions.
    private func unknownRegion(in question: String) -> String? {
        guard let match = question.firstMatch(of: /(?i)\b(?:in|for|from) the ([A-Za-z][A-Za-z ]{0,30}?) region\b/)
        else {
            return nil
        }
        return String(match.output.1)
    }

    private func symbolsMentioned(in question: String) -> [String] {
        let known = Set(enumValues("symbol") + enumValues("symbol_a"))
        var found: [(String.Index, String)] = []
        for match in question.matches(of: /[A-Za-z]+/) {
            let word = String(match.output)
            let upper = word.uppercased()
            if known.contains(upper), word == upper || word.count >= 4 {
                found.append((match.range.lowerBound, upper))
            } else if let symbol = Self.companies[word.lowercased()], known.contains(symbol) {
                found.append((match.range.lowerBound, symbol))
            }
        }
        var seen: Set<String> = []
        return found.sorted { $0.0 < $1.0 }.map(\.1).filter { seen.insert($0).inserted }
    }

    // MARK: Schema lookups

    private func has(_ name: String) -> Bool { tools.contains { $0.name == name } }

    /// The enumerated values of the parameter `name` across the offered tools.
    private func enumValues(_ name: String) -> [String] {
        var values: [String] = []
        for tool in tools {
            for value in tool.parameters["properties"]?[name]?["enum"]?.arrayValue ?? [] {
                if let s = value.stringValue, !values.contains(s) { values.append(s) }
            }
        }
        return values
    }

    /// The last day the offered tools' data covers.
    private func latestDate() -> CivilDate {
        for tool in tools {
            if let text = tool.parameters["properties"]?["start_date"]?["formatMaximum"]?.stringValue,
                let date = CivilDate(text)
            {
                return date
            }
        }
        return CivilDate(year: 2025, month: 12, day: 31)
    }

    /// The values mentioned in `q` as whole words, in order of appearance, longest names first on overlap.
    private func mentions(in q: String, of values: [String]) -> [String] {
        var taken: [Range<String.Index>] = []
        var found: [(String.Index, String)] = []
        for value in values.sorted(by: { $0.count > $1.count }) {
            let needle = value.lowercased()
            var searchStart = q.startIndex
            while let range = q.range(of: needle, range: searchStart..<q.endIndex) {
                searchStart = range.upperBound
                guard isWholeWord(range, in: q) else { continue }
                guard !taken.contains(where: { $0.overlaps(range) }) else { continue }
                taken.append(range)
                found.append((range.lowerBound, value))
                break
            }
        }
        return found.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

/// Whether `range` of `q` is a whole word (a trailing plural "s" allowed).
private func isWholeWord(_ range: Range<String.Index>, in q: String) -> Bool {
    if range.lowerBound > q.startIndex, q[q.index(before: range.lowerBound)].isLetter { return false }
    var end = range.upperBound
    if end < q.endIndex, q[end] == "s" { end = q.index(after: end) }
    return end == q.endIndex || !q[end].isLetter || (range.upperBound < q.endIndex && !q[range.upperBound].isLetter)
}

extension String {
    /// Whether any needle occurs starting at a word boundary ("top" matches "top 3", not "laptop").
    func containsAny(_ needles: String...) -> Bool {
        needles.contains { needle in
            var searchStart = startIndex
            while let range = range(of: needle, range: searchStart..<endIndex) {
                if range.lowerBound == startIndex || !self[index(before: range.lowerBound)].isLetter
                    || needle.first?.isLetter == false
                {
                    return true
                }
                searchStart = index(after: range.lowerBound)
            }
            return false
        }
    }
}

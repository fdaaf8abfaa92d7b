import FlowCore

/// Writes a natural-language answer from tool results, for ``OfflineProvider``.
struct OfflineAnswerWriter {
    /// One tool result of the conversation.
    struct Result {
        var tool: String
        var arguments: JSONValue
        var content: JSONValue
    }

    func answer(_ results: [Result]) -> String {
        var sentences: [String] = []
        for result in results {
            if let error = result.content["error"] {
                let message = error["message"]?.stringValue ?? "unknown error"
                sentences.append("I could not get the \(result.tool.replacingUnderscores) figures: \(message).")
                continue
            }
            switch result.tool {
            case "total_sales": sentences.append(totalSales(result.content))
            case "top_products": sentences.append(topProducts(result.content))
            case "sales_by_region": sentences.append(byRegion(result.content))
            case "sales_by_month": sentences.append(byMonth(result.content))
            case "last_price": sentences.append(lastPrice(result.content))
            case "price_change": sentences.append(priceChange(result.content))
            case "moving_average": sentences.append(movingAverage(result.content))
            case "compare_symbols": sentences.append(compare(result.content))
            default:
                // A tool of someone else's: its text is the answer, its other results are shown as JSON.
                sentences.append(result.content.stringValue ?? "\(result.tool) returned \(result.content.jsonText).")
            }
        }
        let totals = results.filter { $0.tool == "total_sales" && $0.content["revenue"] != nil }
        if totals.count >= 2 {
            let ranked = totals.sorted {
                ($0.content["revenue"]?.doubleValue ?? 0) > ($1.content["revenue"]?.doubleValue ?? 0)
            }
            let top = ranked[0].content
            let next = ranked[1].content
            let gap = (top["revenue"]?.doubleValue ?? 0) - (next["revenue"]?.doubleValue ?? 0)
            sentences.append(
                "\(label(top["filters"]).capitalizedFirst) leads, \(AnswerFormat.money(gap)) ahead of \(label(next["filters"]))."
            )
        }
        return sentences.isEmpty ? "I have no results to report." : sentences.joined(separator: " ")
    }

    // MARK: Sales

    private func totalSales(_ c: JSONValue) -> String {
        let orders = c["orders"]?.intValue ?? 0
        if orders == 0 { return "There were no orders\(scope(c["filters"]))." }
        return
            "Total sales\(scope(c["filters"])) were \(money(c["revenue"])) from \(AnswerFormat.count(orders)) orders "
            + "(\(AnswerFormat.count(c["units"]?.intValue ?? 0)) units)."
    }

    private func topProducts(_ c: JSONValue) -> String {
        let products = c["products"]?.arrayValue ?? []
        guard !products.isEmpty else { return "No products sold\(scope(c["filters"]))." }
        let by = c["by"]?.stringValue ?? "revenue"
        let list = products.enumerated().map { i, p in
            "\(i + 1). \(p["product"]?.stringValue ?? "?") (\(money(p["revenue"])), \(AnswerFormat.count(p["units"]?.intValue ?? 0)) units)"
        }
        return
            "The top \(products.count) products by \(by)\(scope(c["filters"])) were: \(list.joined(separator: "; "))."
    }

    private func byRegion(_ c: JSONValue) -> String {
        let regions = c["regions"]?.arrayValue ?? []
        guard let first = regions.first else { return "No sales\(scope(c["filters"]))." }
        let list = regions.map { "\($0["region"]?.stringValue ?? "?") \(money($0["revenue"]))" }
        let last = regions[regions.count - 1]
        return "Sales by region\(scope(c["filters"])): \(list.joined(separator: ", ")). "
            + "\(first["region"]?.stringValue ?? "?") leads with \(money(first["revenue"])); "
            + "\(last["region"]?.stringValue ?? "?") is lowest with \(money(last["revenue"]))."
    }

    private func byMonth(_ c: JSONValue) -> String {
        let months = c["months"]?.arrayValue ?? []
        guard !months.isEmpty else { return "No sales\(scope(c["filters"]))." }
        let revenue = { (m: JSONValue) in m["revenue"]?.doubleValue ?? 0 }
        let best = months.max { revenue($0) < revenue($1) }!
        let worst = months.min { revenue($0) < revenue($1) }!
        let total = months.reduce(0) { $0 + revenue($1) }
        let list = months.map { "\($0["month"]?.stringValue ?? "?") \(money($0["revenue"]))" }
        return "Monthly sales\(scope(c["filters"])): \(list.joined(separator: ", ")). "
            + "The best month was \(best["month"]?.stringValue ?? "?") with \(money(best["revenue"])), the weakest "
            + "\(worst["month"]?.stringValue ?? "?") with \(money(worst["revenue"])); "
            + "\(months.count) months total \(AnswerFormat.money(total))."
    }

    /// " in the North region for Laptop from 2024-03-01 to 2024-03-31", or "".
    private func scope(_ filters: JSONValue?) -> String {
        var parts: [String] = []
        if let region = filters?["region"]?.stringValue { parts.append("in the \(region) region") }
        if let product = filters?["product"]?.stringValue { parts.append("for \(product)") }
        if let category = filters?["category"]?.stringValue { parts.append("for \(category)") }
        let start = filters?["start_date"]?.stringValue
        let end = filters?["end_date"]?.stringValue
        switch (start, end) {
        case (let s?, let e?): parts.append(s == e ? "on \(s)" : "from \(s) to \(e)")
        case (let s?, nil): parts.append("since \(s)")
        case (nil, let e?): parts.append("up to \(e)")
        default: break
        }
        return parts.isEmpty ? "" : " " + parts.joined(separator: " ")
    }

    /// "the North region for Laptop", "all sales".
    private func label(_ filters: JSONValue?) -> String {
        var parts: [String] = []
        if let region = filters?["region"]?.stringValue { parts.append("the \(region) region") }
        if let product = filters?["product"]?.stringValue { parts.append(parts.isEmpty ? product : "for \(product)") }
        if let category = filters?["category"]?.stringValue {
            parts.append(parts.isEmpty ? category : "for \(category)")
        }
        return parts.isEmpty ? "overall sales" : parts.joined(separator: " ")
    }

    // MARK: Stock

    private func lastPrice(_ c: JSONValue) -> String {
        let symbol = c["symbol"]?.stringValue ?? "?"
        var text = "\(symbol) closed at \(money(c["close"])) on \(c["date"]?.stringValue ?? "?")"
        if let change = c["change"]?.doubleValue, let percent = c["change_percent"]?.doubleValue {
            text +=
                ", \(direction(change)) \(AnswerFormat.money(abs(change))) (\(AnswerFormat.percent(percent))) from the previous close"
        }
        return text + "."
    }

    private func priceChange(_ c: JSONValue) -> String {
        let change = c["change"]?.doubleValue ?? 0
        return "\(c["symbol"]?.stringValue ?? "?") went from \(money(c["start_close"])) on "
            + "\(c["start_date"]?.stringValue ?? "?") to \(money(c["end_close"])) on \(c["end_date"]?.stringValue ?? "?"), "
            + "\(direction(change)) \(AnswerFormat.money(abs(change))) (\(AnswerFormat.percent(c["change_percent"]?.doubleValue ?? 0))); "
            + "it traded between \(money(c["low"])) and \(money(c["high"])) over the period."
    }

    private func movingAverage(_ c: JSONValue) -> String {
        let above = c["above_average"]?.boolValue ?? false
        return "The \(c["window"]?.intValue ?? 0)-day moving average of \(c["symbol"]?.stringValue ?? "?") on "
            + "\(c["date"]?.stringValue ?? "?") is \(money(c["average"])); the close of \(money(c["close"])) is "
            + "\(above ? "above" : "below") it."
    }

    private func compare(_ c: JSONValue) -> String {
        let a = c["a"] ?? nil
        let b = c["b"] ?? nil
        let describe = { (x: JSONValue) in
            "\(x["symbol"]?.stringValue ?? "?") \(self.direction(x["change_percent"]?.doubleValue ?? 0)) "
                + "\(AnswerFormat.percent(x["change_percent"]?.doubleValue ?? 0)) (\(self.money(x["start_close"])) to \(self.money(x["end_close"])))"
        }
        return
            "From \(a["start_date"]?.stringValue ?? "?") to \(a["end_date"]?.stringValue ?? "?"), \(describe(a)) and "
            + "\(describe(b)); \(c["better"]?.stringValue ?? "?") did better by "
            + "\(AnswerFormat.grouped(c["difference_percent_points"]?.doubleValue ?? 0, decimals: 2)) percentage points."
    }

    private func direction(_ change: Double) -> String { change < 0 ? "down" : "up" }

    private func money(_ value: JSONValue?) -> String { AnswerFormat.money(value?.doubleValue ?? 0) }
}

extension String {
    var replacingUnderscores: String { split(separator: "_").joined(separator: " ") }
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

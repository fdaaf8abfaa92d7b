import FlowAgents
import Foundation

/// The shipped CSVs parsed independently of the code under test, to check its figures.
struct SalesRow {
    var date: String
    var region: String
    var product: String
    var category: String
    var quantity: Int
    var cents: Int
}

enum ReferenceData {
    static let sales: [SalesRow] = {
        let text = try! String(contentsOf: AgentData.salesCSV, encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",").map(String.init)
            let price = f[6].split(separator: ".")
            return SalesRow(
                date: f[1],
                region: f[2],
                product: f[3],
                category: f[4],
                quantity: Int(f[5])!,
                cents: Int(price[0])! * 100 + Int(price[1])!
            )
        }
    }()

    static let closes: [String: [(date: String, close: Double)]] = {
        let text = try! String(contentsOf: AgentData.pricesCSV, encoding: .utf8)
        var result: [String: [(date: String, close: Double)]] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            result[f[1], default: []].append((f[0], Double(f[5])!))
        }
        return result.mapValues { $0.sorted { $0.date < $1.date } }
    }()

    /// Revenue in cents of the rows matching `filter`.
    static func revenueCents(_ filter: (SalesRow) -> Bool) -> Int {
        sales.filter(filter).reduce(0) { $0 + $1.quantity * $1.cents }
    }

    /// `"$1,234.56"` written without the code under test.
    static func money(cents: Int) -> String {
        let whole = String(cents / 100)
        var grouped = ""
        for (i, c) in whole.reversed().enumerated() {
            if i > 0, i % 3 == 0 { grouped.append(",") }
            grouped.append(c)
        }
        return "$" + String(grouped.reversed()) + "." + String(format: "%02d", cents % 100)
    }

    static func money(_ value: Double) -> String {
        money(cents: Int((value * 100).rounded()))
    }
}

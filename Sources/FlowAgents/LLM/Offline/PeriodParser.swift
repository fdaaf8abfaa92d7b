/// A period read from a question: explicit dates, or a count of days back.
struct ParsedPeriod: Equatable {
    var start: String?
    var end: String?
    /// Days back from the end (for tools that take `days`).
    var days: Int?
    /// A single day named in the question (for tools that take `date`).
    var day: String?

    var isEmpty: Bool { start == nil && end == nil && days == nil && day == nil }
}

/// Reads periods from questions: ISO dates, years, quarters, months, "last N days/weeks/months", "year to date".
///
/// Relative periods count back from `latest`, the last day the data covers (the questions are about that
/// data set, not about today).
struct PeriodParser {
    /// The last day the data covers.
    var latest: CivilDate
    /// Whether the tool counts days back in trading days (`days` argument) rather than dates.
    var prefersDays: Bool

    private static let months = [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december",
    ]

    func parse(_ question: String) -> ParsedPeriod {
        let q = question.lowercased()
        var ranges: [(CivilDate, CivilDate)] = []

        let isoDates = q.matches(of: /\b(\d{4}-\d{2}-\d{2})\b/).compactMap { CivilDate(String($0.output.1)) }
        if isoDates.count >= 2 {
            return ParsedPeriod(start: isoDates[0].text, end: isoDates[isoDates.count - 1].text)
        }
        if isoDates.count == 1 {
            if q.contains("since") || q.contains("from") {
                return ParsedPeriod(start: isoDates[0].text)
            }
            return ParsedPeriod(day: isoDates[0].text)
        }

        // Quarters: "q1 2024", "q3", "first quarter of 2025".
        let ordinals = ["first": 1, "second": 2, "third": 3, "fourth": 4]
        for match in q.matches(of: /\bq([1-4])\b(?:\s*(?:of\s+)?(\d{4}))?/) {
            let quarter = Int(match.output.1)!
            ranges.append(quarterRange(quarter, year: match.output.2.flatMap { Int($0) }))
        }
        for match in q.matches(of: /\b(first|second|third|fourth) quarter(?:\s+of)?(?:\s+(\d{4}))?/) {
            ranges.append(quarterRange(ordinals[String(match.output.1)]!, year: match.output.2.flatMap { Int($0) }))
        }

        // Months: "march 2024", "mar 2024", "in may".
        for match in q.matches(
            of:
                /\b(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b(?:\s*,?\s*(\d{4}))?/
        ) {
            let word = String(match.output.1)
            let year = match.output.2.flatMap { Int($0) }
            if word == "may", year == nil, !q.contains("in may") { continue }
            guard let month = Self.months.firstIndex(where: { $0.hasPrefix(word) }).map({ $0 + 1 }) else { continue }
            let y = year ?? (month <= latest.month ? latest.year : latest.year - 1)
            ranges.append((CivilDate(year: y, month: month, day: 1), CivilDate.endOf(month: month, year: y)))
        }

        // Bare years: "in 2024", "2025" (not already part of a month or quarter).
        if ranges.isEmpty {
            for match in q.matches(of: /\b(20\d{2})\b/) {
                let y = Int(match.output.1)!
                ranges.append((CivilDate(year: y, month: 1, day: 1), CivilDate(year: y, month: 12, day: 31)))
            }
        }

        if !ranges.isEmpty {
            let start = ranges.map(\.0).min()!
            let end = ranges.map(\.1).max()!
            if q.contains("since") { return ParsedPeriod(start: start.text) }
            return ParsedPeriod(start: start.text, end: end.text)
        }
        return relative(q)
    }

    private func quarterRange(_ quarter: Int, year: Int?) -> (CivilDate, CivilDate) {
        let firstMonth = (quarter - 1) * 3 + 1
        let y = year ?? (firstMonth <= latest.month ? latest.year : latest.year - 1)
        return (CivilDate(year: y, month: firstMonth, day: 1), CivilDate.endOf(month: firstMonth + 2, year: y))
    }

    /// "last 30 days", "past 2 weeks", "last 6 months", "past year", "year to date", "this year", "last month".
    private func relative(_ q: String) -> ParsedPeriod {
        if q.contains("year to date") || q.contains("ytd") || q.contains("this year") {
            return ParsedPeriod(start: CivilDate(year: latest.year, month: 1, day: 1).text, end: latest.text)
        }
        if q.contains("last year") || q.contains("previous year") {
            if prefersDays { return ParsedPeriod(days: 252) }
            let y = latest.year - 1
            return ParsedPeriod(start: "\(y)-01-01", end: "\(y)-12-31")
        }
        if let match = q.firstMatch(
            of:
                /\b(?:last|past|previous)\s+(\d+|a|one|two|three|four|five|six|seven|ten|twelve)?\s*(day|week|month|year)s?\b/
        ) {
            let count = match.output.1.map { Self.number(String($0)) ?? 1 } ?? 1
            let unit = String(match.output.2)
            if prefersDays {
                let perUnit = ["day": 1, "week": 5, "month": 21, "year": 252][unit] ?? 1
                return ParsedPeriod(days: count * perUnit)
            }
            switch unit {
            case "day": return ParsedPeriod(start: latest.adding(days: 1 - count).text, end: latest.text)
            case "week": return ParsedPeriod(start: latest.adding(days: 1 - 7 * count).text, end: latest.text)
            case "month": return ParsedPeriod(start: latest.startOfMonth(monthsBack: count - 1).text, end: latest.text)
            default: return ParsedPeriod(start: latest.startOfMonth(monthsBack: 12 * count - 1).text, end: latest.text)
            }
        }
        if prefersDays, let match = q.firstMatch(of: /\b(\d+)[- ]?(?:trading )?days?\b/) {
            return ParsedPeriod(days: Int(match.output.1))
        }
        return ParsedPeriod()
    }

    /// A small number written as digits or a word.
    static func number(_ word: String) -> Int? {
        if let n = Int(word) { return n }
        let words = [
            "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20,
        ]
        return words[word]
    }
}

import Foundation

/// Small hand-written SVG charts: lines with markers over linear axes, for throughput and latency figures.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// A logarithmic y axis (decades), for latencies that span orders of magnitude.
    var logY = false
    var width = 720.0
    var height = 440.0

    private static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]

    /// A "nice" tick step for a range.
    private static func step(_ range: Double, ticks: Int = 5) -> Double {
        guard range > 0 else { return 1 }
        let raw = range / Double(ticks)
        let magnitude = pow(10, floor(log10(raw)))
        for m in [1.0, 2.0, 2.5, 5.0, 10.0] where raw <= m * magnitude { return m * magnitude }
        return 10 * magnitude
    }

    private static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1_000_000 { return String(format: "%gM", v / 1_000_000) }
        if abs(v) >= 1_000 { return String(format: "%gk", v / 1_000) }
        if abs(v) >= 1 { return String(format: "%g", v) }
        return String(format: "%.3g", v)
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The chart as an SVG document.
    func render() -> String {
        let left = 80.0
        let right = 30.0
        let top = 50.0
        let bottom = 60.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let all = series.flatMap(\.points)
        let xMax = max(all.map(\.x).max() ?? 1, 1e-9)
        let yMax = max(all.map(\.y).max() ?? 1, 1e-9)
        let xStep = Self.step(xMax)
        let yStep = Self.step(yMax)
        let xTop = ceil(xMax / xStep) * xStep
        let yTop = ceil(yMax / yStep) * yStep
        func px(_ x: Double) -> Double { left + x / xTop * plotW }
        let positive = all.map(\.y).filter { $0 > 0 }
        let decadeLow = floor(log10(positive.min() ?? 1))
        let decadeHigh = max(ceil(log10(positive.max() ?? 10)), decadeLow + 1)
        func py(_ y: Double) -> Double {
            if logY {
                let v = (log10(max(y, pow(10, decadeLow))) - decadeLow) / (decadeHigh - decadeLow)
                return top + plotH - v * plotH
            }
            return top + plotH - y / yTop * plotH
        }
        let yTicks: [Double] =
            logY
            ? (Int(decadeLow)...Int(decadeHigh)).map { pow(10, Double($0)) }
            : Array(stride(from: 0, through: yTop + yStep / 2, by: yStep))
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="24" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

            """
        var x = 0.0
        while x <= xTop + xStep / 2 {
            s += "<line x1=\"\(px(x))\" y1=\"\(top)\" x2=\"\(px(x))\" y2=\"\(top + plotH)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(px(x))\" y=\"\(top + plotH + 18)\" text-anchor=\"middle\">\(Self.label(x))</text>\n"
            x += xStep
        }
        for y in yTicks {
            s += "<line x1=\"\(left)\" y1=\"\(py(y))\" x2=\"\(left + plotW)\" y2=\"\(py(y))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(left - 8)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#333\"/>\n"
        s +=
            "<text x=\"\(left + plotW / 2)\" y=\"\(height - 15)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s +=
            "<text x=\"18\" y=\"\(top + plotH / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + plotH / 2))\">\(Self.escape(yLabel))</text>\n"
        for (n, series) in series.enumerated() {
            let color = Self.colors[n % Self.colors.count]
            let points = series.points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            s += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for p in series.points {
                s +=
                    "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"3.5\" fill=\"\(color)\"><title>\(Self.label(p.x)), \(String(format: "%.3g", p.y))</title></circle>\n"
            }
            let ly = top + 16 + Double(n) * 18
            s += "<rect x=\"\(left + 12)\" y=\"\(ly - 9)\" width=\"14\" height=\"4\" fill=\"\(color)\"/>"
            s += "<text x=\"\(left + 32)\" y=\"\(ly - 3)\">\(Self.escape(series.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}

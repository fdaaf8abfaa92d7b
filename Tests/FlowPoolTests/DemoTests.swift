import FlowAgents
import FlowCore
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `flowpool demo` and `flowpool ask` run as real processes, their output checked line by line.
@Suite("Demo and ask commands", .serialized, .timeLimit(.minutes(2)))
struct DemoTests {
    @Test(
        "demo: every question answered, both namespaces labelled and never mixed, the web view open until Ctrl-C, no child left behind"
    )
    func demoAnswersEverythingAndLeavesNoProcess() async throws {
        let demo = try DemoProcess(arguments: [
            "demo", "--no-color", "--questions", "2", "--token-delay-ms", "2", "--log-level", "warning",
            "--web-port", "0",
        ])
        defer { demo.reap() }
        // With the web view the demo stays up once the answers are in, until Ctrl-C.
        try await demo.waitFor("the web view's address after the answers", seconds: 90) {
            $0.hasPrefix("web view open at http://127.0.0.1:")
        }
        let line = try #require(demo.stdout.split(separator: "\n").first { $0.hasPrefix("web view open at ") })
        let address = try #require(line.split(separator: " ").dropFirst(4).first)
        let (page, response) = try await URLSession.shared.data(from: URL(string: "\(address)ns/sales_agent")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: page, as: UTF8.self).contains("data-page=\"namespace\" data-ns=\"sales_agent\""))
        #expect(demo.process.isRunning)
        demo.process.signal(SIGINT)
        let exit = await demo.process.waitForExit(seconds: 30)
        let out = demo.stdout
        #expect(exit == 0, "demo exit \(String(describing: exit))\n\(demo.process.stderr)\n\(out)")

        let children = demo.childPids
        #expect(children.count == 4, "coordinator, 2 workers and the web view reported: \(children)")
        for pid in children {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "child \(pid) still exists")
        }

        // `[ns run] submitted: question`: which namespace each run belongs to.
        let submitted = demo.submissions
        #expect(submitted.count == 4)
        #expect(Set(submitted.values.map(\.namespace)) == ["sales_agent", "stock_agent"])
        let expectedQuestions = DemoQuestionsUnderTest.sales.prefix(2) + DemoQuestionsUnderTest.stock.prefix(2)
        #expect(Set(submitted.values.map(\.question)) == Set(expectedQuestions))

        // Events: `[ns run] #seq type …`; each run's events carry its own namespace's label only.
        let events = demo.eventLines
        #expect(Set(events.map(\.namespace)) == ["sales_agent", "stock_agent"])
        for event in events {
            let run = try #require(submitted[event.runId], "event of an unknown run: \(event.line)")
            #expect(event.namespace == run.namespace, "\(event.line) is labelled with the wrong namespace")
        }
        for (runId, run) in submitted {
            let types = events.filter { $0.runId == runId }.map(\.type)
            #expect(types.first == "progress", "\(run.namespace)/\(runId): \(types)")
            #expect(types.last == "final", "\(run.namespace)/\(runId): \(types)")
            #expect(types.contains("tools_executed"))
        }

        // Answers: `[ns run] Q: question` followed by `  A: answer`.
        let answers = demo.answers
        for (runId, run) in submitted {
            let answer = try #require(answers[runId], "no answer for \(runId): \(run.question)")
            #expect(answer.question == run.question)
            #expect(!answer.text.isEmpty)
        }
        let lastClose = try ShippedData.lastClose("AAPL")
        let aapl = try #require(answers.values.first { $0.question == "What is the last price of AAPL?" })
        #expect(aapl.text.contains("AAPL closed at \(ShippedData.money(cents: lastClose.cents)) on \(lastClose.date)"))
        #expect(out.contains("4 of 4 runs completed"))
    }

    @Test("demo: SIGINT mid-run stops the pool, exits 130 and leaves no child behind")
    func demoInterruptedStopsThePool() async throws {
        let demo = try DemoProcess(arguments: [
            "demo", "--no-color", "--questions", "1", "--token-delay-ms", "100", "--log-level", "warning",
            "--no-web",
        ])
        defer { demo.reap() }
        // Each answer streams for about 3 s from here: the signal lands mid-run.
        try await demo.waitFor("a run's first event", seconds: 45) { $0.contains(" progress ") }
        demo.process.signal(SIGINT)
        let exit = await demo.process.waitForExit(seconds: 30)
        #expect(exit == 130, "demo exit \(String(describing: exit))\n\(demo.process.stderr)")
        #expect(demo.process.stderr.contains("interrupted by SIGINT"))
        let children = demo.childPids
        #expect(children.count == 3)
        for pid in children {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "child \(pid) still exists")
        }
    }

    @Test("demo: a worker killed mid-run fails the demo at once with a clear message, and no child is left")
    func demoFailsFastWhenAWorkerDies() async throws {
        let demo = try DemoProcess(arguments: [
            "demo", "--no-color", "--questions", "1", "--token-delay-ms", "100", "--log-level", "warning",
            "--no-web",
        ])
        defer { demo.reap() }
        // Each answer streams for about 3 s from here: the signal lands mid-run.
        try await demo.waitFor("a run's first event", seconds: 45) { $0.contains(" progress ") }
        let worker = try #require(demo.reportedPid(of: "worker-1"))
        kill(worker, SIGKILL)
        let exit = await demo.process.waitForExit(seconds: 30)
        #expect(exit == 1, "demo exit \(String(describing: exit))\n\(demo.process.stderr)")
        #expect(demo.process.stderr.contains("worker-1 (pid \(worker)) exited unexpectedly"), "\(demo.process.stderr)")
        for pid in demo.childPids {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "child \(pid) still exists")
        }
    }

    @Test("ask: live events and an answer with the figure computed from the shipped data")
    func askAnswersWithTheRightNumber() async throws {
        let demo = try DemoProcess(arguments: [
            "ask", "sales_agent", "What were total sales in the North region in March 2024?", "--no-color",
        ])
        defer { demo.reap() }
        let exit = await demo.process.waitForExit(seconds: 30)
        #expect(exit == 0, "ask exit \(String(describing: exit)): \(demo.process.stderr)")
        let cents = try ShippedData.revenueCents(region: "North", monthPrefix: "2024-03")
        let lines = demo.stdout.split(separator: "\n").map(String.init)
        let answer = try #require(lines.last)
        #expect(answer.contains(ShippedData.money(cents: cents)), "\(answer)")
        #expect(lines.contains { $0.hasPrefix("[sales_agent ") && $0.contains(" final ") })
        #expect(!lines.contains { $0.hasPrefix("[stock_agent ") })
    }

    @Test("ask: an unknown agent is refused with the known ones")
    func askRefusesUnknownAgents() async throws {
        let demo = try DemoProcess(arguments: ["ask", "weather_agent", "Rain tomorrow?"])
        defer { demo.reap() }
        let exit = await demo.process.waitForExit(seconds: 30)
        #expect(exit != 0 && exit != nil)
        #expect(demo.process.stderr.contains("sales_agent, stock_agent"), "\(demo.process.stderr)")
    }
}

/// The demo's built-in questions, restated so that a change to them is a visible change to the test.
private enum DemoQuestionsUnderTest {
    static let sales = [
        "What were total sales in the North region in March 2024?",
        "What were the top 3 products by units sold in 2024?",
    ]
    static let stock = ["What is the last price of AAPL?", "How did NVDA perform over the last 30 days?"]
}

/// A `flowpool` command run as a process, its output parsed.
private final class DemoProcess: Sendable {
    let process: PoolProcess
    /// Where its output is written; removed with it.
    let directory: String

    init(arguments: [String]) throws {
        #expect(FileManager.default.isExecutableFile(atPath: PoolHarness.executable))
        directory = NSTemporaryDirectory() + "flowpool-demo-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process = try PoolProcess(name: "demo", arguments: arguments, directory: directory)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var stdout: String { (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? "" }
    private var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// The pids of the children the demo reported (`  coordinator  pid N`, `  worker-1     pid N`).
    var childPids: Set<Int32> {
        Set(
            lines.compactMap { line -> Int32? in
                let fields = line.split(separator: " ")
                guard line.hasPrefix("  "), fields.count >= 3, fields[1] == "pid",
                    fields[0] == "coordinator" || fields[0].hasPrefix("worker-") || fields[0] == "web"
                else { return nil }
                return Int32(fields[2])
            }
        )
    }

    /// The pid the demo reported for one child (`coordinator`, `worker-1`, …).
    func reportedPid(of name: String) -> Int32? {
        for line in lines {
            let fields = line.split(separator: " ")
            if line.hasPrefix("  "), fields.count >= 3, fields[0] == name, fields[1] == "pid" {
                return Int32(fields[2])
            }
        }
        return nil
    }

    /// Run id → namespace and question, from `[ns run] submitted: question`.
    var submissions: [String: (namespace: String, question: String)] {
        var result: [String: (namespace: String, question: String)] = [:]
        for line in lines {
            guard let (namespace, runId, rest) = Self.labelled(line), rest.hasPrefix("submitted: ") else { continue }
            result[runId] = (namespace, String(rest.dropFirst("submitted: ".count)))
        }
        return result
    }

    /// Event lines: `[ns run] #seq type summary`.
    var eventLines: [(namespace: String, runId: String, type: String, line: String)] {
        lines.compactMap { line in
            guard let (namespace, runId, rest) = Self.labelled(line), rest.hasPrefix("#") else { return nil }
            let fields = rest.split(separator: " ")
            guard fields.count >= 2 else { return nil }
            return (namespace, runId, String(fields[1]), line)
        }
    }

    /// Run id → question and answer, from `[ns run] Q: question` and the `  A: answer` line after it.
    var answers: [String: (question: String, text: String)] {
        var result: [String: (question: String, text: String)] = [:]
        let lines = self.lines
        for (i, line) in lines.enumerated() {
            guard let (_, runId, rest) = Self.labelled(line), rest.hasPrefix("Q: "), i + 1 < lines.count,
                lines[i + 1].hasPrefix("  A: ")
            else { continue }
            result[runId] = (String(rest.dropFirst(3)), String(lines[i + 1].dropFirst(5)))
        }
        return result
    }

    /// Splits `[ns run] rest` into its parts.
    static func labelled(_ line: String) -> (String, String, String)? {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
        let label = line[line.index(after: line.startIndex)..<close].split(separator: " ")
        guard label.count == 2 else { return nil }
        let rest = line[line.index(after: close)...].drop { $0 == " " }
        return (String(label[0]), String(label[1]), String(rest))
    }

    /// Polls standard output until a line satisfies `condition`.
    func waitFor(_ what: String, seconds: Double, _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if lines.contains(where: condition) { return }
            guard process.isRunning else { throw HarnessError("exited before \(what): \(process.stderr)") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw HarnessError("no \(what) within \(seconds) s: \(stdout)")
    }

    /// After a failed check: SIGKILL the command and any child it reported that still runs.
    func reap() {
        if process.isRunning {
            process.signal(SIGKILL)
            process.process.waitUntilExit()
        }
        for pid in childPids where kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
        }
    }
}

/// The shipped CSV files, read without the code under test.
private enum ShippedData {
    struct Close {
        var date: String
        var cents: Int
    }

    static func csvRows(_ url: URL) throws -> [[Substring]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
    }

    /// `12.34` → 1234.
    static func cents(_ text: Substring) -> Int {
        let parts = text.split(separator: ".")
        let fraction =
            parts.count > 1 ? String(parts[1].prefix(2)).padding(toLength: 2, withPad: "0", startingAt: 0) : "00"
        return Int(parts[0])! * 100 + Int(fraction)!
    }

    /// Revenue of the orders of a region in the months starting with `monthPrefix` (`2024-03`).
    static func revenueCents(region: String, monthPrefix: String) throws -> Int {
        // order_id,order_date,region,product,category,quantity,unit_price,customer
        try csvRows(AgentData.salesCSV).filter { $0[2] == region && $0[1].hasPrefix(monthPrefix) }
            .reduce(0) { $0 + Int($1[5])! * cents($1[6]) }
    }

    /// The last close of a symbol.
    static func lastClose(_ symbol: String) throws -> Close {
        // date,symbol,open,high,low,close,volume
        let rows = try csvRows(AgentData.pricesCSV).filter { $0[1] == symbol }
        let last = try #require(rows.max { $0[0] < $1[0] })
        return Close(date: String(last[0]), cents: cents(last[5]))
    }

    /// `$1,234.56`.
    static func money(cents: Int) -> String {
        let whole = String(cents / 100)
        var grouped = ""
        for (i, c) in whole.reversed().enumerated() {
            if i > 0, i % 3 == 0 { grouped.append(",") }
            grouped.append(c)
        }
        return "$" + String(grouped.reversed()) + "." + String(format: "%02d", cents % 100)
    }
}

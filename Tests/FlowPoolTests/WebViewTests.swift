import FlowCore
import FlowPool
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `flowpool web` process against a harness's pool, on a free port, stopped and reaped afterwards.
enum WebProcess {
    static func with(
        _ pool: PoolHarness,
        arguments: [String] = [],
        _ body: (_ base: String, _ process: PoolProcess) async throws -> Void
    ) async throws {
        let process = try PoolProcess(
            name: "web",
            arguments: ["web", "--coordinator", pool.control, "--port", "0", "--log-level", "warning"] + arguments,
            directory: pool.directory
        )
        do {
            let base = try await address(of: process)
            try await body(base, process)
        } catch {
            await process.stop(grace: 5)
            throw error
        }
        await process.stop(grace: 5)
    }

    /// Reads "web view at http://HOST:PORT/" from the process's output.
    static func address(of process: PoolProcess) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: process.stdoutPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "web view at ") {
                let url = text[range.upperBound...].prefix { !$0.isWhitespace }
                return String(url.dropLast(url.hasSuffix("/") ? 1 : 0))
            }
            guard process.isRunning else { throw HarnessError("flowpool web exited: \(process.stderr)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("flowpool web did not print its address in time: \(process.stderr)")
    }
}

/// The web view's live streams, read as a browser's EventSource reads them, against a real pool.
@Suite("Web view streams", .serialized, .timeLimit(.minutes(3)))
struct WebViewStreamTests {
    /// Folds a namespace stream's `snapshot` and `update`s into the runs as the page holds them.
    private static func runs(_ messages: [EventStreamReader.Message]) -> [String: JSONValue] {
        var runs: [String: JSONValue] = [:]
        for m in messages where m.event == "snapshot" || m.event == "update" {
            if m.event == "snapshot" { runs = [:] }
            for run in m.data["runs"]?.arrayValue ?? [] {
                if let id = run["run"]?.stringValue { runs[id] = run }
            }
            for id in m.data["removed"]?.arrayValue ?? [] { runs[id.stringValue ?? ""] = nil }
        }
        return runs
    }

    /// Submits `count` runs of `flow` in batches of 500; every one must be accepted.
    private static func submit(
        _ count: Int,
        of flow: String,
        in namespace: String,
        with client: PoolClient
    ) async throws {
        for start in stride(from: 0, to: count, by: 500) {
            let batch = (start..<min(start + 500, count)).map { i in
                (flow: flow, namespace: namespace, input: JSONValue.object(["question": .string("q\(i)")]))
            }
            for result in try await client.submitBatch(batch) { _ = try result.get() }
        }
    }

    @Test("a namespace page opened late is shown the history, then live events, with no gap and no duplicate")
    func lateOpenedNamespaceHasNoGapOrDuplicate() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await WebProcess.with(pool) { base, _ in
                try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) { client in
                    // About 150 events a second in all: every event is sent (no sampling), even on a loaded machine.
                    let input: JSONValue = ["question": "late", "token_delay_ms": 80, "tokens": 20]
                    var submissions: [PoolClient.Submission] = []
                    for _ in 0..<12 {
                        submissions.append(try await client.submit("agent4_llm", namespace: "late", input: input))
                    }
                    // Open the page while the runs are half way: part of each run is history, the rest live.
                    try await pool.until(seconds: 30, "events of every run forwarded") {
                        try await pool.counter("events_forwarded") >= 12 * 8
                    }
                    let page = EventStreamReader(base + "/api/ns/late/stream")
                    defer { page.close() }
                    let perRun = LLMShapedAgent4Events.perRun(tokens: 20)
                    try await page.until(seconds: 60, "every run completed on the page") { messages in
                        let runs = Self.runs(messages)
                        return runs.count == 12 && runs.values.allSatisfy { $0["state"]?.stringValue == "completed" }
                    }
                    let messages = page.messages
                    #expect(messages.first?.event == "snapshot")
                    let snapshotRuns = messages.first?.data["runs"]?.arrayValue ?? []
                    #expect(!snapshotRuns.isEmpty, "the page was opened after the runs had started")
                    // Every event was taken exactly once: the count matches the run's stored events.
                    for (id, run) in Self.runs(messages) {
                        #expect(run["events"]?.intValue == perRun, "run \(id): \(run.wireText)")
                        #expect(run["answer"]?.stringValue == LLMShapedAgent4Events.answer(tokens: 20))
                        #expect(run["text"]?.stringValue == LLMShapedAgent4Events.answer(tokens: 20))
                    }
                    // The feed shows each run's events once each and in order, without a hole.
                    var seen: [String: [Int]] = [:]
                    for m in messages {
                        for item in m.data["feed"]?.arrayValue ?? [] {
                            seen[item["run"]?.stringValue ?? "", default: []].append(item["seq"]?.intValue ?? 0)
                        }
                        #expect((m.data["skipped"]?.intValue ?? 0) == 0, "nothing is sampled away at this rate")
                    }
                    for (run, seqs) in seen {
                        #expect(seqs == Array((seqs.first ?? 1)...(seqs.last ?? 0)), "run \(run) feed: \(seqs)")
                        #expect(seqs.last == perRun)
                    }
                    #expect(Set(seen.keys).isSubset(of: Set(submissions.map(\.runId))))
                }
            }
        }
    }

    @Test("under load a page is sent coalesced, sampled updates, and every event is accounted for")
    func loadIsCoalescedAndSampled() async throws {
        try await PoolHarness.with(workers: 2) { pool in
            // Followed event by event however fast (the switch to polling is the next test's).
            try await WebProcess.with(pool, arguments: ["--live-events-per-second", "100000000"]) { base, _ in
                let page = EventStreamReader(base + "/api/ns/busy/stream")
                defer { page.close() }
                try await page.until(seconds: 20, "the snapshot") { $0.first?.event == "snapshot" }
                let runs = 4_000
                try await PoolClient.withConnection(to: pool.control, timeout: .seconds(30)) { client in
                    try await Self.submit(runs, of: "agent4", in: "busy", with: client)
                }
                let total = runs * 13
                let accounted = { (messages: [EventStreamReader.Message]) in
                    messages.reduce(0) {
                        $0 + ($1.data["feed"]?.arrayValue?.count ?? 0) + ($1.data["skipped"]?.intValue ?? 0)
                    }
                }
                try await page.until(seconds: 90, "every event accounted for in the page's updates") {
                    accounted($0) >= total
                }
                let updates = page.messages.filter { $0.event == "update" }
                #expect(accounted(page.messages) == total, "each event is sent once or counted as skipped once")
                #expect(updates.allSatisfy { ($0.data["feed"]?.arrayValue?.count ?? 0) <= 100 })
                #expect(updates.reduce(0) { $0 + ($1.data["skipped"]?.intValue ?? 0) } > 0, "the feed was sampled")
                // At most four updates a second (one per 250 ms tick; the first may come early).
                if let first = updates.first?.at, let last = updates.last?.at {
                    let span = (last - first).components
                    let seconds = Double(span.seconds) + Double(span.attoseconds) * 1e-18 + 0.25
                    #expect(Double(updates.count - 1) <= seconds * 4 + 1, "\(updates.count) updates in \(seconds) s")
                }
                // The page holds the newest runs only: a new page's snapshot has at most 500, all finished.
                let late = EventStreamReader(base + "/api/ns/busy/stream")
                defer { late.close() }
                try await late.until(seconds: 20, "a snapshot") { $0.first?.event == "snapshot" }
                let held = late.messages.first?.data["runs"]?.arrayValue ?? []
                #expect(held.count == 500)
                #expect(held.allSatisfy { $0["state"]?.stringValue == "completed" })
            }
        }
    }

    @Test(
        "runs whose events the view missed (the coordinator's high-water mark dropped them) are built again from their stored events"
    )
    func missedEventsAreRepaired() async throws {
        // One batch queued per subscriber: a view that does not read loses what comes meanwhile.
        try await PoolHarness.with(workers: 2, coordinatorArguments: ["--subscriber-hwm", "1"]) { pool in
            // Followed live whatever the rate: the repair, not a poll, has to mend what is missed.
            try await WebProcess.with(pool, arguments: ["--live-events-per-second", "10000000"]) { base, web in
                let page = EventStreamReader(base + "/api/ns/gappy/stream")
                defer { page.close() }
                try await page.until(seconds: 20, "the snapshot") { $0.first?.event == "snapshot" }
                // Runs that stream for about three seconds, all at once.
                let runs = 100
                let tokens = 300
                try await PoolClient.withConnection(to: pool.control, timeout: .seconds(30)) { client in
                    let input: JSONValue = ["question": "q", "token_delay_ms": 10, "tokens": .int(tokens)]
                    let batch = (0..<runs).map { _ in (flow: "agent4_llm", namespace: "gappy", input: input) }
                    for result in try await client.submitBatch(batch) { _ = try result.get() }
                }
                try await page.until(seconds: 30, "every run shown running") { Self.runs($0).count == runs }
                // The view stops reading while every run ends: what comes meanwhile beyond one batch (and what the
                // connection holds) is dropped on the way to it.
                web.signal(SIGSTOP)
                var resumed = false
                defer { if !resumed { web.signal(SIGCONT) } }
                try await pool.until(seconds: 60, "every run completed") {
                    try await pool.counter("jobs_completed") == runs
                }
                web.signal(SIGCONT)
                resumed = true
                do {
                    try await page.until(seconds: 30, "every run shown ended, whole") { messages in
                        let shown = Self.runs(messages)
                        return shown.count == runs
                            && shown.values.allSatisfy {
                                $0["state"]?.stringValue == "completed" && $0["events"]?.intValue == 4 + tokens + 1
                            }
                    }
                } catch {
                    let shown = Self.runs(page.messages).values
                    let byState = Dictionary(grouping: shown) { $0["state"]?.stringValue ?? "?" }.mapValues(\.count)
                    let byCount = Dictionary(grouping: shown) { $0["events"]?.intValue ?? -1 }.mapValues(\.count)
                    Issue.record("\(shown.count) runs shown; by state \(byState); by event count \(byCount)")
                    throw error
                }
                for run in Self.runs(page.messages).values {
                    #expect(run["answer"]?.stringValue?.isEmpty == false, "\(run.wireText)")
                }
            }
        }
    }

    @Test(
        "a namespace busier than the live limit is sampled by polling its newest runs, then followed live again once quiet"
    )
    func busyNamespaceIsPolledThenLiveAgain() async throws {
        try await PoolHarness.with(workers: 2) { pool in
            try await WebProcess.with(pool, arguments: ["--live-events-per-second", "2000"]) { base, _ in
                let page = EventStreamReader(base + "/api/ns/flood/stream")
                defer { page.close() }
                try await page.until(seconds: 20, "the snapshot") { $0.first?.event == "snapshot" }
                #expect(page.messages.first?.data["sampling"] == .null)
                let runs = 6_000
                try await PoolClient.withConnection(to: pool.control, timeout: .seconds(30)) { client in
                    try await Self.submit(runs, of: "agent4", in: "flood", with: client)
                    // While it is sampled, a page opened is shown the polled newest runs only.
                    try await page.until(seconds: 30, "sampling") {
                        $0.contains { ($0.data["sampling"]?.stringValue ?? "").contains("newest 100 runs") }
                    }
                    let during = EventStreamReader(base + "/api/ns/flood/stream")
                    defer { during.close() }
                    try await during.until(seconds: 20, "a snapshot") { $0.first?.event == "snapshot" }
                    if let snapshot = during.messages.first?.data, snapshot["sampling"] != .null {
                        #expect((snapshot["runs"]?.arrayValue?.count ?? 0) <= 100)
                    }
                    try await pool.until(seconds: 120, "every run completed") {
                        try await pool.counter("jobs_completed") == runs
                    }
                }
                let sampledAt = { (messages: [EventStreamReader.Message]) in
                    messages.firstIndex { ($0.data["sampling"]?.stringValue ?? "").contains("newest 100 runs") }
                }
                try await page.until(seconds: 30, "the page told that the namespace is sampled") {
                    sampledAt($0) != nil
                }
                #expect(page.messages.contains { !($0.data["removed"]?.arrayValue ?? []).isEmpty }, "rows dropped")
                // Quiet again: followed live, and the page is told so.
                try await page.until(seconds: 30, "the page told that the namespace is followed live again") {
                    guard let start = sampledAt($0) else { return false }
                    return $0[(start + 1)...].contains { $0.data["sampling"] == .null }
                }
                // A page opened once the namespace is followed live (the view may still switch back and forth
                // while the last runs' events arrive) is shown the newest runs' history, exactly: every event, every
                // answer.
                var snapshot: JSONValue = .null
                try await pool.until(seconds: 30, "a page opened while the namespace is followed live") {
                    let late = EventStreamReader(base + "/api/ns/flood/stream")
                    defer { late.close() }
                    try await late.until(seconds: 20, "a snapshot") { $0.first?.event == "snapshot" }
                    snapshot = late.messages.first?.data ?? .null
                    return snapshot["sampling"] == .null
                }
                let held = snapshot["runs"]?.arrayValue ?? []
                #expect(held.count == 500)
                for run in held {
                    #expect(run["state"]?.stringValue == "completed", "\(run.wireText)")
                    #expect(run["events"]?.intValue == 13, "\(run.wireText)")
                    #expect(run["answer"]?.stringValue?.isEmpty == false)
                }
                // A run submitted now is followed event by event again.
                try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) { client in
                    let submission = try await client.submit("agent4", namespace: "flood", input: ["question": "after"])
                    try await page.until(seconds: 20, "the new run completed on the page") {
                        Self.runs($0)[submission.runId]?["state"]?.stringValue == "completed"
                    }
                    #expect(Self.runs(page.messages)[submission.runId]?["sampled"] == false)
                }
            }
        }
    }

    @Test("submitting and cancelling: bad requests are refused with a reason, cross-site writes are refused")
    func actionsAndTheirRefusals() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await WebProcess.with(pool) { base, _ in
                func post(
                    _ path: String,
                    _ body: String,
                    headers: [String: String] = [:]
                ) async throws -> (
                    Int, JSONValue
                ) {
                    var request = URLRequest(url: URL(string: base + path)!)
                    request.httpMethod = "POST"
                    request.httpBody = Data(body.utf8)
                    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
                    let (data, response) = try await URLSession.shared.data(for: request)
                    return ((response as? HTTPURLResponse)?.statusCode ?? 0, try JSONValue(wireBytes: Array(data)))
                }
                let (status, accepted) = try await post(
                    "/api/runs",
                    #"{"flow":"sleep","ns":"acts","run":"long-1","input":{"ms":60000}}"#
                )
                #expect(status == 200, "\(accepted.wireText)")
                #expect(accepted["run"]?.stringValue == "long-1")
                let (cancelStatus, cancelled) = try await post("/api/runs/acts/long-1/cancel", "{}")
                #expect(cancelStatus == 200, "\(cancelled.wireText)")
                #expect(["queued", "dispatched", "running"].contains(cancelled["was"]?.stringValue ?? ""))
                let result = try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) {
                    try await $0.result(namespace: "acts", runId: "long-1")
                }
                #expect(result.status == .cancelled)
                let (again, finished) = try await post("/api/runs/acts/long-1/cancel", "{}")
                #expect(again == 409 && finished["error"]?.stringValue == "already_finished")

                let (badJSON, bad) = try await post("/api/runs", "{nope")
                #expect(badJSON == 400 && bad["error"]?.stringValue == "bad_json")
                let (noFlow, missing) = try await post("/api/runs", #"{"ns":"acts"}"#)
                #expect(noFlow == 400 && (missing["message"]?.stringValue ?? "").contains("flow"))
                let (badName, slash) = try await post("/api/runs", #"{"flow":"sleep","ns":"a/b"}"#)
                #expect(badName == 400 && slash["error"]?.stringValue == "bad_request")
                let (crossSite, refused) = try await post(
                    "/api/runs",
                    #"{"flow":"sleep","ns":"acts"}"#,
                    headers: ["Origin": "http://elsewhere.example"]
                )
                #expect(crossSite == 403 && refused["error"]?.stringValue == "cross_origin")
                #expect(try await pool.counter("jobs_accepted") == 1, "no refused request reached the pool")
            }
            try await WebProcess.with(pool, arguments: ["--read-only"]) { base, _ in
                var request = URLRequest(url: URL(string: base + "/api/runs")!)
                request.httpMethod = "POST"
                request.httpBody = Data(#"{"flow":"sleep","ns":"acts"}"#.utf8)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                let (data, response) = try await URLSession.shared.data(for: request)
                #expect((response as? HTTPURLResponse)?.statusCode == 403)
                #expect(try JSONValue(wireBytes: Array(data))["error"]?.stringValue == "read_only")
            }
        }
    }

    @Test("with CURVE keys the web view follows and acts with its client key; without one it says why it cannot")
    func withKeys() async throws {
        try await PoolHarness.withKeySet(workers: 1) { pool, keys in
            try await WebProcess.with(pool, arguments: keys.clientArguments) { base, _ in
                let page = EventStreamReader(base + "/api/ns/secured/stream")
                defer { page.close() }
                try await page.until(seconds: 20, "the snapshot") { $0.first?.event == "snapshot" }
                var request = URLRequest(url: URL(string: base + "/api/runs")!)
                request.httpMethod = "POST"
                request.httpBody = Data(#"{"flow":"agent4","ns":"secured","run":"k-1","input":{"question":"hi"}}"#.utf8)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                let (_, response) = try await URLSession.shared.data(for: request)
                #expect((response as? HTTPURLResponse)?.statusCode == 200)
                try await page.until(seconds: 20, "the run completed on the page") {
                    Self.runs($0)["k-1"]?["state"]?.stringValue == "completed"
                }
            }
            // No key: the handshake fails, and the overview says so instead of showing figures.
            try await WebProcess.with(pool, arguments: ["--timeout", "2"]) { base, _ in
                let overview = EventStreamReader(base + "/api/overview/stream")
                defer { overview.close() }
                try await overview.until(seconds: 60, "the overview's explanation") {
                    $0.contains {
                        $0.data["connected"] == false
                            && ($0.data["error"]?.stringValue ?? "").contains(
                                "security handshake"
                            )
                    }
                }
            }
        }
    }

    @Test("SIGTERM ends open live pages and the process exits 0")
    func stopsWithOpenPages() async throws {
        try await PoolHarness.with(workers: 0) { pool in
            try await WebProcess.with(pool) { base, process in
                let pages = [
                    EventStreamReader(base + "/api/overview/stream"), EventStreamReader(base + "/api/ns/x/stream"),
                    EventStreamReader(base + "/api/runs/x/r1/stream"),
                ]
                defer { for page in pages { page.close() } }
                for page in pages {
                    try await page.until(seconds: 20, "the first message") { !$0.isEmpty }
                }
                process.signal(SIGTERM)
                let status = await process.waitForExit(seconds: 15)
                #expect(status == 0, "exit status \(String(describing: status)): \(process.stderr)")
            }
        }
    }
}

/// The `agent4_llm` workload's shape, as the tests expect it.
enum LLMShapedAgent4Events {
    static func perRun(tokens: Int) -> Int { 4 + tokens + 1 }
    static func answer(tokens: Int) -> String { (0..<tokens).map { "tok\($0) " }.joined() }
}

/// The pages in a real browser: headless Chromium from Debian, through chromedriver.
@Suite(
    "Web view in a browser",
    .serialized,
    .timeLimit(.minutes(3)),
    .enabled(if: Browser.unavailable == nil, Comment(rawValue: Browser.unavailable ?? "a browser is installed"))
)
struct WebViewBrowserTests {
    @Test(
        "a run submitted from the namespace page streams there live and in order, its answer is the result, and its page shows it afterwards"
    )
    func namespacePageAndRunPage() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await WebProcess.with(pool) { base, _ in
                try await Browser.with(directory: pool.directory) { browser in
                    try await browser.open(base + "/ns/webtest")
                    try await browser.until(
                        seconds: 20,
                        "the page's first snapshot",
                        "document.body.dataset.live === '1'"
                    )
                    // Record every feed entry as it is added to the page, with the time it appeared.
                    try await browser.run(
                        """
                        window.seenEvents = [];
                        new MutationObserver(records => {
                          const t = performance.now();
                          for (const r of records) for (const n of r.addedNodes) {
                            if (n.nodeType === 1 && n.dataset.run) window.seenEvents.push(
                              [n.dataset.run, Number(n.dataset.attempt), Number(n.dataset.seq), n.dataset.type, t]);
                          }
                        }).observe(document.getElementById('feed'), {childList: true, subtree: true});
                        """
                    )
                    // A bad input is refused on the page and nothing is submitted.
                    try await browser.run(
                        """
                        document.getElementById('submit-input').value = '{not json';
                        document.getElementById('submit-button').click();
                        """
                    )
                    try await browser.until(
                        seconds: 10,
                        "the page's complaint about the input",
                        "document.getElementById('submit-status').textContent.length > 0"
                    )
                    #expect(try await pool.counter("jobs_accepted") == 0)
                    // Submit a run whose answer streams for about two seconds.
                    try await browser.run(
                        """
                        const flow = document.getElementById('submit-flow');
                        flow.value = 'agent4_llm';
                        document.getElementById('submit-input').value = arguments[0];
                        document.getElementById('submit-run').value = 'web-run-1';
                        document.getElementById('submit-button').click();
                        """,
                        [#"{"question":"How do I reset my password?","token_delay_ms":200,"tokens":10}"#]
                    )
                    let row = "document.querySelector('#runs tbody tr[data-run=\"web-run-1\"]')"
                    // While it runs, the page shows the answer growing.
                    let partial = try await browser.until(
                        seconds: 20,
                        "a part of the answer while the run is running",
                        "\(row) && \(row).dataset.state === 'running' && \(row).querySelector('td.answer').textContent.includes('tok1') && \(row).querySelector('td.answer').textContent"
                    )
                    try await browser.until(
                        seconds: 30,
                        "the run completed on the page",
                        "\(row) && \(row).dataset.state === 'completed'"
                    )
                    let result = try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) {
                        try await $0.result(namespace: "webtest", runId: "web-run-1")
                    }
                    let answer = try #require(result.result.stringValue)
                    #expect(answer == LLMShapedAgent4Events.answer(tokens: 10))
                    #expect(partial.stringValue != answer, "the answer was seen part way")
                    let shown = try await browser.run("return \(row).querySelector('td.answer').textContent;")
                    #expect(shown.stringValue == answer)
                    #expect(
                        try await browser.run("return document.getElementById('submit-status').textContent;")
                            .stringValue?.contains("web-run-1") == true
                    )
                    // The feed lists the run's events once each and in order (newest on top), and they appeared
                    // over time, none before the one it follows.
                    let perRun = LLMShapedAgent4Events.perRun(tokens: 10)
                    let listed = try await browser.run(
                        """
                        return [...document.querySelectorAll('#feed [data-run="web-run-1"]')].map(
                          n => [Number(n.dataset.seq), n.dataset.type]);
                        """
                    )
                    let listedSeqs = (listed.arrayValue ?? []).compactMap { $0.arrayValue?.first?.intValue }
                    #expect(listedSeqs.reversed() == Array(1...perRun), "\(listedSeqs)")
                    #expect(listed.arrayValue?.first?.arrayValue?.last?.stringValue == "final")
                    let seen = try await browser.run("return window.seenEvents;").arrayValue ?? []
                    let mine = seen.compactMap(\.arrayValue).filter { $0.first?.stringValue == "web-run-1" }
                    #expect(mine.count == perRun, "each event added to the page once: \(mine)")
                    var appeared: [Int: Double] = [:]
                    for entry in mine { appeared[entry[2].intValue ?? 0] = entry[4].doubleValue }
                    let times = (1...perRun).map { appeared[$0] ?? -1 }
                    #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 && $0 >= 0 }, "\(times)")
                    #expect(times[perRun - 1] - times[0] > 1_000, "events arrived over time: \(times)")

                    // The run's own page, opened after it finished: its history from replay.
                    try await browser.open(base + "/runs/webtest/web-run-1")
                    try await browser.until(
                        seconds: 20,
                        "the run page's result",
                        "document.body.dataset.live === '1' && document.querySelector('#result[data-status]')"
                    )
                    let stored = try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) {
                        try await $0.replay(pattern: "webtest/web-run-1")
                    }
                    let timeline = try await browser.run(
                        """
                        return [...document.querySelectorAll('#timeline tbody tr[data-seq]')].map(
                          r => [Number(r.dataset.attempt), Number(r.dataset.seq), r.dataset.type]);
                        """
                    )
                    let expected: [JSONValue] = stored.map {
                        [.int($0.attempt), .int(Int($0.event.seq)), .string($0.event.type.rawValue)]
                    }
                    #expect(timeline.arrayValue == expected)
                    let page = try await browser.run(
                        """
                        const r = document.getElementById('result');
                        return [r.textContent, r.dataset.status, document.getElementById('text').textContent,
                                document.getElementById('state').textContent];
                        """
                    )
                    #expect(page[0]?.stringValue == answer)
                    #expect(page[1]?.stringValue == "completed")
                    #expect(page[2]?.stringValue == answer, "the chunks assembled to the answer")
                    #expect(page[3]?.stringValue?.contains("completed") == true)
                }
            }
        }
    }

    @Test("a running run is cancelled from its page; the overview lists the worker")
    func cancelFromRunPageAndOverview() async throws {
        try await PoolHarness.with(workers: 1) { pool in
            try await WebProcess.with(pool) { base, _ in
                try await Browser.with(directory: pool.directory) { browser in
                    try await browser.open(base + "/")
                    let workerId = try #require(
                        try await pool.status()["workers"]?.arrayValue?.first?["id"]?.stringValue
                    )
                    try await browser.until(
                        seconds: 20,
                        "the worker on the overview",
                        "document.querySelector('#workers tbody tr[data-worker=\"' + arguments[0] + '\"]')",
                        [.string(workerId)]
                    )
                    #expect(try await browser.run("return document.getElementById('queue-depth').textContent;") == "0")
                    #expect(try await browser.run("return !!document.getElementById('chart');") == true)

                    let submission = try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) {
                        try await $0.submit("sleep", namespace: "webtest", input: ["ms": 60_000], runId: "long-run")
                    }
                    try await browser.open(base + "/runs/webtest/\(submission.runId)")
                    try await browser.until(
                        seconds: 20,
                        "the running run's cancel button",
                        "document.getElementById('state')?.textContent.includes('running') && document.getElementById('cancel-button')"
                    )
                    try await browser.run("document.getElementById('cancel-button').click();")
                    try await browser.until(
                        seconds: 20,
                        "the run shown cancelled",
                        "document.querySelector('#result[data-status=\"cancelled\"]') && document.getElementById('state').textContent.includes('cancelled')"
                    )
                    let result = try await PoolClient.withConnection(to: pool.control, timeout: .seconds(10)) {
                        try await $0.result(namespace: "webtest", runId: "long-run")
                    }
                    #expect(result.status == .cancelled)
                }
            }
        }
    }
}

import ArgumentParser
import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Logging
import Synchronization

/// `flowpool submit`: submits one run (or N numbered runs) of a flow.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a run of FLOW; optionally wait for its result and print its events.",
        discussion: """
            With --count N, submits N runs whose inputs are numbered (an object input gets "n": i and its \
            "question", if any, gets " #i" appended), waits for all results and prints a summary: completed, \
            failed, rejected submits, duplicates suppressed by the coordinator, wall time and runs/s.
            With --deadline, a run still going after that long ends with an error (deadline_exceeded) and its \
            attempt is cancelled on its worker. With --wait-limit, waiting for a result stops after that long \
            (the run goes on).
            Exit status: 0 when every run completed, 1 when one failed or was cancelled, 2 when a submit was \
            refused, 3 when the wait limit passed first.
            """
    )

    @Argument(help: "The registered flow name, such as agent4.")
    var flow: String

    @Option(help: "The namespace of the run's events.")
    var namespace: String

    @Option(help: "The flow's input as JSON.")
    var input: String = "{}"

    @Option(help: "The run id (default: assigned by the coordinator).")
    var runId: String?

    @Flag(help: "Wait for the result and print it.")
    var wait = false

    @Flag(help: "Print the run's events while it runs (implies --wait).")
    var events = false

    @Option(help: "Submit this many numbered runs and print a summary.")
    var count: Int?

    @Option(help: "With --count: runs in flight at once.")
    var window: Int = 2000

    @Option(help: "How long each run may take from acceptance, such as 500ms, 30s, 5m (default: no deadline).")
    var deadline: String?

    @Option(help: "How long to wait for a result before giving up with exit status 3, such as 30s (default: no limit).")
    var waitLimit: String?

    @Flag(
        help: """
            Refuse the run (no_worker_for_flow) when no live worker offers its flow, instead of queueing it until \
            one does.
            """
    )
    var requireWorker = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        do { _ = try JSONValue(wireText: input) } catch { throw ValidationError("--input is not valid JSON: \(error)") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let deadline, DurationText.parse(deadline) == nil {
            throw ValidationError("--deadline \(deadline): give a duration such as 500ms, 30s, 5m or 1h")
        }
        if let waitLimit, DurationText.parse(waitLimit) == nil {
            throw ValidationError("--wait-limit \(waitLimit): give a duration such as 500ms, 30s, 5m or 1h")
        }
    }

    /// Exit status when the wait limit passed before the result came.
    static let waitLimitStatus: Int32 = 3

    private var deadlineDuration: Duration? { deadline.flatMap(DurationText.parse) }
    private var waitLimitDuration: Duration? { waitLimit.flatMap(DurationText.parse) }

    func run() async throws {
        let logger = log.makeLogger("flowpool.submit")
        let value = try JSONValue(wireText: input)
        let pool = try await PoolClient.connect(
            to: connection.coordinator,
            timeout: connection.timeoutDuration,
            keys: try keys.load(logger: logger),
            logger: logger
        )
        defer { _ = pool }
        let status: Int32
        if let count {
            status = try await submitMany(pool, value, count: count)
        } else {
            status = try await submitOne(pool, value)
        }
        await pool.close()
        if status != 0 { throw ExitCode(status) }
    }

    private func submitOne(_ pool: PoolClient, _ value: JSONValue) async throws -> Int32 {
        let runId = self.runId ?? RunID.make()
        var subscription: PoolEvents?
        if events { subscription = try await pool.events(matching: "\(namespace)/\(runId)") }
        let submission: PoolClient.Submission
        do {
            submission = try await pool.submit(
                flow,
                namespace: namespace,
                input: value,
                runId: runId,
                deadline: deadlineDuration,
                requireWorker: requireWorker
            )
        } catch let error as PoolError {
            printError("submit refused: \(error.remoteCode?.rawValue ?? error.code.rawValue): \(error.message)")
            return 2
        }
        printError(
            "accepted \(submission.namespace)/\(submission.runId) (job \(submission.job))\(submission.existing ? ", an existing run" : "")"
        )
        guard wait || events else {
            printFlushed(submission.runId)
            return 0
        }
        if let subscription {
            // With each event's attempt: a run dispatched again shows its new attempt's events as such.
            var iterator = subscription.makeAsyncIterator()
            while let wire = await iterator.nextWireEvent() {
                printFlushed(SubscribeCommand.humanLine(wire))
                if wire.event.type.isTerminal { break }
            }
        }
        let result: RunResult
        do {
            result = try await pool.result(of: submission, limit: waitLimitDuration)
        } catch let error as PoolError where error.code == .timeout {
            printError(
                "no result within --wait-limit \(waitLimit ?? ""); the run goes on (flowpool cancel \(submission.runId) --namespace \(submission.namespace) ends it)"
            )
            return Self.waitLimitStatus
        }
        switch result.status {
        case .completed:
            printFlushed(result.result.wireText)
            return 0
        case .cancelled:
            printError("run cancelled after \(result.attempts) attempt(s): \(result.errorMessage ?? "")")
            return 1
        case .failed:
            printError(
                "run failed after \(result.attempts) attempt(s): \(result.errorCode?.rawValue ?? ""): \(result.errorMessage ?? "")"
            )
            return 1
        }
    }

    enum Outcome: Sendable {
        case completed(Int)
        case failed(Int)
        case rejected(Int)
        /// No result within --wait-limit.
        case timedOut(Int)
    }

    private func numbered(_ value: JSONValue, _ i: Int) -> JSONValue {
        guard case .object(var o) = value else { return ["input": value, "n": .int(i)] }
        o["n"] = .int(i)
        if case .string(let q) = o["question"] { o["question"] = .string("\(q) #\(i)") }
        return .object(o)
    }

    private func submitMany(_ pool: PoolClient, _ value: JSONValue, count: Int) async throws -> Int32 {
        let before = try await pool.status()
        let clock = ContinuousClock()
        let start = clock.now
        let flow = self.flow
        let namespace = self.namespace
        let deadline = deadlineDuration
        let waitLimit = waitLimitDuration
        var completedCount = 0
        var failedCount = 0
        var rejectedCount = 0
        var timedOutCount = 0
        var retryCount = 0
        let runPrefix = RunID.make()
        let waiting = Notice()
        func tally(_ outcome: Outcome) {
            switch outcome {
            case .completed(let r):
                completedCount += 1
                retryCount += r
            case .failed(let r):
                failedCount += 1
                retryCount += r
            case .rejected(let r):
                rejectedCount += 1
                retryCount += r
            case .timedOut(let r):
                timedOutCount += 1
                retryCount += r
            }
        }
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var inFlight = 0
            for i in 0..<count {
                if inFlight >= window, let outcome = try await group.next() {
                    tally(outcome)
                    inFlight -= 1
                }
                let input = numbered(value, i)
                // The run id is chosen here, so that a submit repeated after a timeout (the coordinator restarting,
                // say) is the same run, not a second one.
                let runId = "\(runPrefix)-\(i)"
                group.addTask {
                    var backoff = 1
                    var retries = 0
                    while true {
                        do {
                            let s = try await pool.submit(
                                flow,
                                namespace: namespace,
                                input: input,
                                runId: runId,
                                deadline: deadline,
                                requireWorker: requireWorker
                            )
                            let r = try await pool.result(of: s, limit: waitLimit)
                            return r.status == .completed ? .completed(retries) : .failed(retries)
                        } catch let error as PoolError where error.remoteCode == .poolFull {
                            retries += 1
                            waiting.note("the pool is full (\(error.message)); submitting again with backoff")
                            try await Task.sleep(for: .milliseconds(backoff))
                            backoff = min(backoff * 2, 1_000)
                        } catch let error as PoolError where error.code == .timeout && waitLimit == nil {
                            retries += 1
                            waiting.note("no answer from the coordinator (\(error.message)); submitting again")
                            try await Task.sleep(for: .milliseconds(backoff))
                            backoff = min(backoff * 2, 1_000)
                        } catch let error as PoolError where error.code == .timeout {
                            return .timedOut(retries)
                        } catch let error as PoolError where error.code == .rejected {
                            return .rejected(retries)
                        }
                    }
                }
                inFlight += 1
            }
            for try await outcome in group { tally(outcome) }
        }
        let elapsed = clock.now - start
        let after = try await pool.status()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let duplicates =
            (after["counters"]?["duplicate_results"]?.intValue ?? 0)
            - (before["counters"]?["duplicate_results"]?.intValue ?? 0)
        let c = completedCount
        let f = failedCount
        let r = rejectedCount
        printFlushed(
            "submitted \(count) completed \(c) failed \(f) rejected \(r) pool_full_retries \(retryCount) duplicates_suppressed \(duplicates) wall_s \(String(format: "%.3f", seconds)) runs_per_s \(String(format: "%.0f", Double(c + f) / max(seconds, 1e-9)))"
        )
        if timedOutCount > 0 {
            printError("\(timedOutCount) runs had no result within --wait-limit \(self.waitLimit ?? "")")
            return Self.waitLimitStatus
        }
        if r > 0 { return 2 }
        return f > 0 ? 1 : 0
    }
}

/// Says what a long wait is about, at most once every 5 s (many tasks may wait for the same reason).
final class Notice: Sendable {
    private let last = Mutex<Double>(0)

    func note(_ message: String) {
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        let due = last.withLock { last in
            guard now - last >= 5 else { return false }
            last = now
            return true
        }
        if due { printError(message) }
    }
}

import ArgumentParser
import FlowAgents
import FlowCore
import FlowPool
import Foundation
import Logging

/// `flowpool-bench journal-store`: what recording runs costs the coordinator's loop thread, per store.
///
/// Each round records what one loop round of a busy coordinator records — K runs accepted, K dispatched and K
/// finished — then makes it durable as the round's end requires: the coordinator's append-only journal (one
/// `write(2)` per round; with `--fsync always` also an `fdatasync`), against SQLite in WAL mode (one transaction
/// per round with prepared statements; `synchronous=NORMAL` syncs at checkpoints, `FULL` at every commit).
struct JournalStoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal-store",
        abstract: "Recording runs per loop round: the append-only journal against SQLite in WAL mode."
    )

    @Option(help: "Rounds per store.")
    var rounds = 2_000

    @Option(help: "Runs per round (each is 3 records: accepted, dispatched, finished).")
    var runsPerRound = 64

    @Option(help: "Directory for the files (default: a temporary one).")
    var directory: String?

    func run() async throws {
        let base = directory ?? NSTemporaryDirectory() + "flowpool-journal-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: base) } }
        print(
            "journal stores: \(rounds) rounds of \(runsPerRound) runs (3 records each), \(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        print("store                               runs/s    µs per round   ratio to journal (interval)")
        var reference: Double?
        for store in ["journal interval", "journal always", "sqlite wal normal", "sqlite wal full"] {
            let path = "\(base)/\(store.replacingOccurrences(of: " ", with: "-"))"
            let seconds =
                store.hasPrefix("journal")
                ? try measureJournal(path, sync: store.hasSuffix("always") ? .always : .interval)
                : try measureSQLite(path, synchronous: store.hasSuffix("full") ? "FULL" : "NORMAL")
            let runs = Double(rounds * runsPerRound)
            let rate = runs / seconds
            if reference == nil { reference = rate }
            let line = [
                store.padding(toLength: 32, withPad: " ", startingAt: 0),
                String(format: "%10.0f", rate),
                String(format: "%14.1f", seconds / Double(rounds) * 1e6),
                String(format: "%14.2f", rate / (reference ?? rate)),
            ]
            print(line.joined(separator: " "))
        }
        for (results, active) in [(10_000, 1_000), (100_000, 10_000)] {
            let (seconds, size) = try measureCompaction(
                "\(base)/compaction-\(results)",
                results: results,
                active: active
            )
            print(
                "compaction to \(results) results + \(active) unfinished runs (\(size >> 20) MiB): "
                    + String(format: "%.1f ms to write its snapshot (on a thread of its own)", seconds * 1000)
            )
        }
    }

    /// How long writing a compaction's snapshot takes: the journal rewritten with `results` kept
    /// results and `active` unfinished runs (what a busy coordinator keeps by default is up to 100,000 results).
    private func measureCompaction(_ directory: String, results: Int, active: Int) throws -> (Double, Int) {
        let (journal, _) = try Journal.open(directory: directory, sync: .interval, logger: Logger(label: "bench"))
        defer { journal.close() }
        var live: [JournalRecord] = []
        live.reserveCapacity(results + active)
        for i in 0..<results { live.append(record(i).2) }
        for i in results..<(results + active) { live.append(record(i).0) }
        let clock = ContinuousClock()
        let start = clock.now
        try journal.compact(live)
        let seconds = (clock.now - start).seconds
        let size = (try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int) ?? 0
        return (seconds, size)
    }

    private func record(_ i: Int) -> (JournalRecord, JournalRecord, JournalRecord) {
        let job = "bench-\(i)"
        let accepted = JournalRecord.AcceptedRun(
            job: job,
            flow: "agent4",
            namespace: "sales_agent",
            runId: job,
            input: ["question": .string("What were the top products last quarter? #\(i)")],
            requestId: "c-\(i)",
            maxAttempts: 3,
            deadlineWallMilliseconds: nil
        )
        let result = RunResult(
            id: "",
            job: job,
            namespace: "sales_agent",
            runId: job,
            status: .completed,
            attempts: 1,
            result: .string("tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11")
        )
        return (.accepted(accepted), .dispatched(job: job, attempt: 1), .finished(result))
    }

    private func measureJournal(_ directory: String, sync: JournalSync) throws -> Double {
        let (journal, _) = try Journal.open(directory: directory, sync: sync, logger: Logger(label: "bench"))
        defer { journal.close() }
        let clock = ContinuousClock()
        let start = clock.now
        for round in 0..<rounds {
            for k in 0..<runsPerRound {
                let (a, d, f) = record(round * runsPerRound + k)
                journal.append(a)
                journal.append(d)
                journal.append(f)
            }
            try journal.commit()
        }
        return (clock.now - start).seconds
    }

    private func measureSQLite(_ directory: String, synchronous: String) throws -> Double {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let db = try SQLiteConnection(path: "\(directory)/journal.sqlite", mode: .readWriteCreate)
        _ = try db.query("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(synchronous)")
        try db.execute("CREATE TABLE runs (job TEXT PRIMARY KEY, accepted TEXT, attempt INTEGER, result TEXT)")
        let insert = try db.prepare("INSERT INTO runs (job, accepted, attempt) VALUES (?, ?, 0)")
        let dispatch = try db.prepare("UPDATE runs SET attempt = ? WHERE job = ?")
        let finish = try db.prepare("UPDATE runs SET result = ? WHERE job = ?")
        let begin = try db.prepare("BEGIN")
        let commit = try db.prepare("COMMIT")
        func run(_ statement: SQLiteStatement, _ values: [SQLiteValue]) throws {
            try statement.bind(values)
            while try statement.step() {}
            statement.reset()
        }
        let clock = ContinuousClock()
        let start = clock.now
        for round in 0..<rounds {
            try run(begin, [])
            for k in 0..<runsPerRound {
                let i = round * runsPerRound + k
                let (a, _, f) = record(i)
                // The same bytes the journal writes, as the rows' text.
                var accepted: [UInt8] = []
                a.append(to: &accepted)
                var finished: [UInt8] = []
                f.append(to: &finished)
                let job = "bench-\(i)"
                try run(insert, [.text(job), .text(String(decoding: accepted.dropFirst(9), as: UTF8.self))])
                try run(dispatch, [.integer(1), .text(job)])
                try run(finish, [.text(String(decoding: finished.dropFirst(9), as: UTF8.self)), .text(job)])
            }
            try run(commit, [])
        }
        return (clock.now - start).seconds
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

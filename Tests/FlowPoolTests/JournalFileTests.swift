import FlowCore
import Foundation
import Logging
import Testing

@testable import FlowPool

/// The journal file itself, on real files: records read back, compaction, a corrupt record in the middle.
@Suite("Journal file")
struct JournalFileTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "flowpool-journal-file-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func accepted(_ job: String, deadline: Int? = nil) -> JournalRecord {
        .accepted(
            JournalRecord.AcceptedRun(
                job: job,
                flow: "agent4",
                namespace: "ns",
                runId: "run-\(job)",
                input: ["question": .string("q \(job)"), "n": 1],
                requestId: "c-\(job)",
                maxAttempts: 3,
                deadlineWallMilliseconds: deadline
            )
        )
    }

    func finished(_ job: String) -> JournalRecord {
        .finished(
            RunResult(
                id: "",
                job: job,
                namespace: "ns",
                runId: "run-\(job)",
                status: .completed,
                attempts: 2,
                result: ["answer": .string("done \(job)")]
            )
        )
    }

    @Test("records come back as written; compaction keeps what is live and appends go on after it")
    func roundTripAndCompaction() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test")
        do {
            let (journal, recovered) = try Journal.open(directory: directory, sync: .always, logger: logger)
            #expect(recovered.records == 0 && recovered.tailProblem == nil)
            for job in ["a", "b", "c"] { journal.append(accepted(job, deadline: job == "b" ? 1_000 : nil)) }
            journal.append(.dispatched(job: "a", attempt: 1))
            journal.append(.dispatched(job: "b", attempt: 1))
            journal.append(.dispatched(job: "b", attempt: 2))
            journal.append(finished("a"))
            try journal.commit()
            // Compacted to what a coordinator would keep: a's result, b and c unfinished.
            try journal.compact([
                finished("a"), accepted("b", deadline: 1_000), .dispatched(job: "b", attempt: 2), accepted("c"),
            ])
            journal.append(accepted("d"))
            journal.append(finished("c"))
            try journal.commit()
            journal.close()
        }
        let (journal, recovered) = try Journal.open(directory: directory, sync: .never, logger: logger)
        defer { journal.close() }
        #expect(recovered.tailProblem == nil && recovered.droppedBytes == 0)
        #expect(recovered.records == 6)
        #expect(recovered.results.map(\.job) == ["a", "c"])
        #expect(recovered.results.first?.result == ["answer": "done a"])
        #expect(recovered.unfinished.map(\.run.job) == ["b", "d"], "in order of acceptance")
        #expect(recovered.unfinished.map(\.attempts) == [2, 0])
        #expect(recovered.unfinished.first?.run.deadlineWallMilliseconds == 1_000)
        #expect(recovered.unfinished.first?.run.input == ["question": "q b", "n": 1])
    }

    @Test("a record whose checksum does not match ends the valid part: the rest is cut off and said")
    func corruptRecordInTheMiddle() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test")
        var firstLength = 0
        do {
            let (journal, _) = try Journal.open(directory: directory, sync: .never, logger: logger)
            journal.append(accepted("a"))
            try journal.commit()
            firstLength = (try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int) ?? 0
            journal.append(accepted("b"))
            journal.append(accepted("c"))
            try journal.commit()
            journal.close()
        }
        // One byte of b's payload flipped.
        let path = directory + "/journal.log"
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[firstLength + 12] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let (journal, recovered) = try Journal.open(directory: directory, sync: .never, logger: logger)
        journal.close()
        #expect(recovered.unfinished.map(\.run.job) == ["a"])
        #expect(recovered.tailProblem?.contains("checksum") == true, "\(String(describing: recovered.tailProblem))")
        #expect(recovered.droppedBytes == bytes.count - firstLength)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        #expect(size == firstLength, "the file was cut back to its valid part")
    }

    @Test("a coordinator's snapshot, written by compaction, brings back its runs and results in a new coordinator")
    func snapshotRoundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = CoordinatorConfiguration(dataDirectory: directory)
        var state = CoordinatorState(config: config, instanceId: "s")
        let client: [UInt8] = Array("c".utf8)
        let worker: [UInt8] = Array("w".utf8)
        let hello = WorkerHello(workerId: "w", host: "h", pid: 1, concurrency: 2, flows: [])
        _ = state.report(.hello(hello), from: worker, now: 0)
        for i in 0..<3 {
            let submit = SubmitRequest(id: "q\(i)", flow: "f", namespace: "ns", runId: "r\(i)", input: ["n": .int(i)])
            _ = state.submit(submit, client: client, now: 0)
        }
        _ = state.report(.ready(credit: 2), from: worker, now: 0)
        let r0 = try #require(state.jobs[runKey: "ns/r0"])
        let wire = WireEvent(
            event: StreamEvent(
                namespace: "ns",
                runId: "r0",
                seq: 1,
                type: .final,
                node: "n",
                timestamp: 1,
                content: "x"
            ),
            attempt: r0.attempt
        )
        let terminal = RawEvent(topic: wire.topicBytes, envelope: wire.envelopeBytes)
        let result = WorkerResult(job: r0.id, attempt: r0.attempt, status: .completed, result: "x", terminal: terminal)
        _ = state.report(.result(result), from: worker, now: 0.1)
        // The grace period (3 s) passes with the worker alive: r0 ends with the result's copy of its terminal event.
        _ = state.report(.heartbeat(inFlight: 1, completed: 1, draining: false), from: worker, now: 4)
        _ = state.tick(now: 4)
        #expect(state.activeJobs == 2 && state.results.count == 1)

        let (journal, _) = try Journal.open(directory: directory, sync: .never, logger: Logger(label: "test"))
        try journal.compact(state.journalSnapshot())
        journal.close()
        let (reopened, recovered) = try Journal.open(directory: directory, sync: .never, logger: Logger(label: "test"))
        reopened.close()
        var restarted = CoordinatorState(config: config, instanceId: "t")
        restarted.recover(recovered, now: 0, wallMilliseconds: 0)
        #expect(restarted.activeJobs == 2)
        #expect(restarted.jobs[runKey: "ns/r1"]?.attempt == 1, "r1 was dispatched once: its next attempt is 2")
        #expect(restarted.jobs[runKey: "ns/r2"]?.attempt == 0)
        guard case .result(let kept) = restarted.result(id: "g", namespace: "ns", runId: "r0") else {
            Issue.record("r0's result was not kept")
            return
        }
        #expect(kept.status == .completed && kept.result == "x")
    }

    @Test("a journal that is not a regular file is refused with a clear error, never read")
    func notARegularFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Reading /dev/full would never end; writing it always fails.
        try FileManager.default.createSymbolicLink(atPath: directory + "/journal.log", withDestinationPath: "/dev/full")
        #expect {
            _ = try Journal.open(directory: directory, sync: .never, logger: Logger(label: "test"))
        } throws: { error in
            "\(error)".contains("is not a regular file")
        }
    }

    @Test("a compaction written by its own thread while commits go on keeps every record committed meanwhile")
    func compactionInTheBackground() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test")
        do {
            let (journal, _) = try Journal.open(
                directory: directory,
                sync: .interval,
                logger: logger,
                compactionThreshold: 4_096
            )
            var job = 0
            var needsCompaction = false
            while !needsCompaction {
                job += 1
                journal.append(accepted("old\(job)"))
                journal.append(finished("old\(job)"))
                needsCompaction = try journal.commit()
            }
            // What is live at this commit: the last result only.
            journal.beginCompaction([finished("old\(job)")])
            var meanwhile = 0
            let deadline = ContinuousClock.now + .seconds(20)
            repeat {
                meanwhile += 1
                journal.append(accepted("new\(meanwhile)"))
                try journal.commit()
                try await Task.sleep(for: .milliseconds(1))
            } while journal.isCompacting && ContinuousClock.now < deadline
            #expect(!journal.isCompacting, "the compaction finished")
            journal.append(accepted("last"))
            try journal.commit()
            journal.close()
            let size =
                (try FileManager.default.attributesOfItem(atPath: directory + "/journal.log")[.size] as? Int) ?? 0
            #expect(size < 4_096 + 200 * meanwhile, "the old runs are gone from the file (\(size) bytes)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/journal.log.compacting"))
            let (reopened, recovered) = try Journal.open(directory: directory, sync: .never, logger: logger)
            reopened.close()
            #expect(recovered.tailProblem == nil)
            #expect(recovered.results.map(\.job) == ["old\(job)"])
            #expect(recovered.unfinished.map(\.run.job) == (1...meanwhile).map { "new\($0)" } + ["last"])
        }
    }
}

import FlowCore
import FlowPool
import Foundation
import Synchronization
import Testing

/// The journal with real processes and files: a coordinator killed with SIGKILL mid-load and started again on
/// the same data directory and ports; a journal whose tail was torn.
@Suite("Journal and restart", .serialized)
struct JournalRestartTests {
    /// A coordinator on fixed ports (so that workers and clients find it again after a restart) with a journal.
    struct Node {
        let directory: String
        let dataDirectory: String
        let ports: [Int]
        var control: String { "tcp://127.0.0.1:\(ports[0])" }

        init() throws {
            directory = NSTemporaryDirectory() + "flowpool-journal-\(UUID().uuidString.prefix(8))"
            dataDirectory = directory + "/data"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            ports = try FreePorts.take(4)
        }

        /// Removes the node's directory (logs, journal).
        func remove() { try? FileManager.default.removeItem(atPath: directory) }

        func startCoordinator(_ name: String) throws -> PoolProcess {
            try PoolProcess(
                name: name,
                arguments: [
                    "coordinator", "--bind-host", "127.0.0.1", "--control-port", "\(ports[0])", "--worker-port",
                    "\(ports[1])", "--events-in-port", "\(ports[2])", "--events-out-port", "\(ports[3])",
                    "--heartbeat-timeout-ms", "2000", "--data-dir", dataDirectory, "--log-level", "info",
                ],
                directory: directory
            )
        }

        func startWorker(_ name: String) throws -> PoolProcess {
            try PoolProcess(
                name: name,
                arguments: [
                    "worker", "--coordinator", control, "--concurrency", "8", "--heartbeat-ms", "100", "--log-level",
                    "warning",
                ],
                directory: directory
            )
        }

        func status() async throws -> JSONValue {
            try await PoolClient.withConnection(to: control, timeout: .seconds(5)) { try await $0.status() }
        }

        /// Starts the first coordinator and `workers` workers, and waits until they are registered; the processes,
        /// coordinator first.
        func startPool(workers: Int) async throws -> [PoolProcess] {
            var processes = [try startCoordinator("coordinator1")]
            try await until(seconds: 20, "the coordinator") { try await status()["coordinator"] != nil }
            for i in 0..<workers { processes.append(try startWorker("worker\(i)")) }
            try await until(seconds: 20, "\(workers) workers") {
                try await status()["workers"]?.arrayValue?.count == workers
            }
            return processes
        }

        func until(seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while ContinuousClock.now < deadline {
                if (try? await condition()) == true { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HarnessError("timed out waiting for \(what)")
        }
    }

    @Test("kill -9 of the coordinator mid-load, then a restart: no accepted run lost, none ended twice")
    func killAndRestart() async throws {
        let node = try Node()
        defer { node.remove() }
        var processes: [PoolProcess] = []
        defer { for p in processes { p.signal(SIGKILL) } }
        processes = try await node.startPool(workers: 2)
        let first = processes[0]

        // A subscriber that stays through the restart (its SUB socket reconnects): no run may end twice.
        let watcher = try await PoolClient.connect(to: node.control)
        let events = try await watcher.events(matching: "jr")
        let collector = EventCollector()
        let collecting = Task { await events.collect(into: collector) }

        // Submits (faster than the workers run them: 2 × 8 slots of 50 ms runs) until the coordinator dies under
        // them; every accepted run id is a promise.
        let total = 3_000
        let acceptedIds = Mutex<[String]>([])
        let submitter = try await PoolClient.connect(to: node.control, timeout: .seconds(2))
        let submitting = Task {
            for i in 0..<total {
                do {
                    _ = try await submitter.submit(
                        "sleep",
                        namespace: "jr",
                        input: ["ms": 50, "n": .int(i)],
                        runId: "run-\(i)",
                        wantResult: false
                    )
                    acceptedIds.withLock { $0.append("run-\(i)") }
                } catch {
                    return
                }
            }
        }
        try await node.until(seconds: 60, "some runs finished and more waiting") {
            let status = try await node.status()
            return status["counters"]?["jobs_completed"]?.intValue ?? 0 >= 100
                && status["queue_depth"]?.intValue ?? 0 >= 50
        }
        first.signal(SIGKILL)
        _ = await first.waitForExit(seconds: 10)
        _ = await submitting.value
        await submitter.close()
        let promised = acceptedIds.withLock { $0 }
        #expect(promised.count >= 150 && promised.count < total, "\(promised.count) accepted before the kill")

        let second = try node.startCoordinator("coordinator2")
        processes.append(second)
        try await node.until(seconds: 20, "the coordinator again") { try await node.status()["coordinator"] != nil }
        let restarted = try await node.status()
        #expect(restarted["counters"]?["jobs_recovered"]?.intValue ?? 0 > 0, "unfinished runs were read back")
        // The workers come back by themselves and finish what was left.
        try await node.until(seconds: 120, "every recovered run finished") {
            try await node.status()["active_jobs"]?.intValue == 0
        }
        try await PoolClient.withConnection(to: node.control) { client in
            var attemptsAfterRestart = 0
            for runId in promised {
                let r = try await client.result(namespace: "jr", runId: runId)
                #expect(r.status == .completed, "\(runId): \(r)")
                if r.attempts > 1 { attemptsAfterRestart += 1 }
            }
            #expect(attemptsAfterRestart > 0, "runs in flight at the kill ran again as a new attempt")
            // A submit of a promised run id is answered with that run, not run again.
            let again = try await client.submit(
                "sleep",
                namespace: "jr",
                input: ["question": "again"],
                runId: promised[0]
            )
            #expect(again.existing)
            #expect(try await client.result(of: again, limit: .seconds(10)).status == .completed)
        }
        let counters = try await node.status()["counters"]
        #expect(counters?["jobs_accepted"]?.intValue == 0, "no run was accepted a second time")
        // No run ended twice on the bus (the subscriber may have missed some while the coordinator was down).
        for (run, runEvents) in collector.byRun {
            let terminals = runEvents.filter { $0.event.type.isTerminal }
            #expect(terminals.count <= 1, "\(run) ended \(terminals.count) times")
        }
        collecting.cancel()
        await watcher.close()
        for p in processes { await p.stop(grace: 5) }
    }

    @Test("submit --count rides through a coordinator kill -9 and restart and finishes by itself")
    func submitCountRidesThroughARestart() async throws {
        let node = try Node()
        defer { node.remove() }
        var processes: [PoolProcess] = []
        defer { for p in processes { p.signal(SIGKILL) } }
        processes = try await node.startPool(workers: 2)
        let first = processes[0]
        let submit = try PoolProcess(
            name: "submit",
            arguments: [
                "submit", "sleep", "--namespace", "jc", "--input", #"{"ms":50}"#, "--count", "800", "--window", "200",
                "--coordinator", node.control, "--timeout", "2",
            ],
            directory: node.directory
        )
        processes.append(submit)
        try await node.until(seconds: 60, "some runs finished") {
            try await node.status()["counters"]?["jobs_completed"]?.intValue ?? 0 >= 100
        }
        first.signal(SIGKILL)
        _ = await first.waitForExit(seconds: 10)
        let second = try node.startCoordinator("coordinator2")
        processes.append(second)
        let exit = await submit.waitForExit(seconds: 120)
        #expect(exit == 0, "submit --count exit \(String(describing: exit)): \(submit.stderr)")
        #expect(submit.stdout.contains("submitted 800 completed 800 failed 0 rejected 0"), "\(submit.stdout)")
        #expect(submit.stderr.contains("connected to the coordinator at"), "\(submit.stderr)")
        // Each of the 800 run ids has its one result (kept under its run key), whether it finished before the
        // kill (read back from the journal), was recovered unfinished, or was first accepted after the restart;
        // the second coordinator started no run twice.
        let status = try await node.status()
        #expect(status["results_kept"]?["runs"]?.intValue == 800, "\(status)")
        let counters = status["counters"]
        let recovered = counters?["jobs_recovered"]?.intValue ?? 0
        let acceptedAfter = counters?["jobs_accepted"]?.intValue ?? 0
        let completedAfter = counters?["jobs_completed"]?.intValue ?? 0
        #expect(completedAfter == recovered + acceptedAfter, "\(String(describing: counters))")
        for p in processes { await p.stop(grace: 5) }
    }

    @Test("a torn journal tail is cut off and reported; the records before it are recovered")
    func tornTail() async throws {
        let node = try Node()
        defer { node.remove() }
        var processes: [PoolProcess] = []
        defer { for p in processes { p.signal(SIGKILL) } }
        processes = try await node.startPool(workers: 0)
        let first = processes[0]
        // Runs accepted with no worker: they wait in the journal.
        try await PoolClient.withConnection(to: node.control) { client in
            for i in 0..<5 {
                _ = try await client.submit(
                    "sleep",
                    namespace: "torn",
                    input: ["ms": 10],
                    runId: "t\(i)",
                    wantResult: false
                )
            }
        }
        first.signal(SIGKILL)
        _ = await first.waitForExit(seconds: 10)
        // A write torn by the crash: half a record at the end.
        let path = node.dataDirectory + "/journal.log"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 0x7b, 0x22]))
        handle.closeFile()

        let second = try node.startCoordinator("coordinator2")
        processes.append(second)
        try await node.until(seconds: 20, "the coordinator again") { try await node.status()["coordinator"] != nil }
        #expect(try await node.status()["counters"]?["jobs_recovered"]?.intValue == 5)
        #expect(second.stderr.contains("cut off its last 11 bytes"), "\(second.stderr)")
        processes.append(try node.startWorker("worker"))
        try await node.until(seconds: 30, "the recovered runs finished") {
            try await node.status()["counters"]?["jobs_completed"]?.intValue == 5
        }
        // The file ends with whole records again: a third start reads it without complaint.
        await second.stop(grace: 5)
        let third = try node.startCoordinator("coordinator3")
        processes.append(third)
        try await node.until(seconds: 20, "the coordinator a third time") {
            try await node.status()["coordinator"] != nil
        }
        #expect(!third.stderr.contains("cut off"), "\(third.stderr)")
        try await PoolClient.withConnection(to: node.control) { client in
            for i in 0..<5 {
                let r = try await client.result(namespace: "torn", runId: "t\(i)")
                #expect(r.status == .completed)
            }
        }
        for p in processes { await p.stop(grace: 5) }
    }
}

/// Free TCP ports on loopback, found by binding port 0 and closing (a test reuses them at once).
enum FreePorts {
    static func take(_ n: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for s in sockets { close(s) } }
        var ports: [Int] = []
        for _ in 0..<n {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard s >= 0 else { throw HarnessError("socket: \(errno)") }
            sockets.append(s)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                    bind(s, p, length) == 0 && getsockname(s, p, &length) == 0
                }
            }
            guard bound else { throw HarnessError("bind: \(errno)") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

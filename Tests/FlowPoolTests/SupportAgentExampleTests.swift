import FlowCore
import FlowPool
import Foundation
import Subprocess
import SystemPackage
import Testing

/// `examples/support_agent`, a package of its own that depends on this one, built for real and answering through a
/// real coordinator with its `support-worker` as the only worker.
@Suite("The support agent example", .serialized, .timeLimit(.minutes(20)))
struct SupportAgentExampleTests {
    /// The repository's root: this file is `Tests/FlowPoolTests/SupportAgentExampleTests.swift`.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let package = "\(repository)/examples/support_agent"
    /// Kept between runs, so that only the first build compiles everything.
    static let scratch = "\(repository)/.build/examples"
    /// A first build compiles this package's dependencies again (about 2 minutes on 2 idle cores).
    static let buildDeadline: Duration = .seconds(15 * 60)

    @Test("support-worker answers a password question from the password-reset article, events and all")
    func answersFromTheKnowledgeBase() async throws {
        let worker = try await Self.buildExample()
        // Its help is the worker command's, under its own name.
        let help = try await Subprocess.run(
            .path(FilePath(worker)),
            arguments: ["--help"],
            output: .string(limit: 1 << 16),
            error: .discarded
        )
        #expect(help.standardOutput.contains("USAGE: support-worker "), "\(help.standardOutput)")
        #expect(help.standardOutput.contains("--concurrency"))
        try await PoolHarness.with(workers: 0) { pool in
            // The offline model, whatever this machine's environment says: the answer is then the article's.
            _ = try pool.startWorker(executable: worker, environment: ["FLOWPOOL_LLM": "offline"])
            try await pool.waitForWorkers(1)
            try await PoolClient.withConnection(to: pool.control) { client in
                let events = try await client.events(matching: "support")
                defer { events.close() }
                let collector = EventCollector()
                let collecting = Task { await events.collect(into: collector) }
                let submission = try await client.submit(
                    "support_agent",
                    namespace: "support",
                    input: ["question": "How do I reset my password?"]
                )
                let result = try await client.result(of: submission)
                #expect(result.status == .completed, "\(result.errorMessage ?? "")")
                let answer = try #require(result.result.stringValue, "\(result.result)")
                for phrase in ["Reset your password", "kb-101", "Forgot password?", "expires after 30 minutes"] {
                    #expect(answer.contains(phrase), "\(answer)")
                }

                try await pool.until(seconds: 10, "the run's terminal event") { collector.terminals >= 1 }
                events.close()
                await collecting.value
                let run = collector.events.filter { $0.event.runId == submission.runId }
                #expect(run.count == collector.count, "only this run's events in the namespace")
                expectCompleteRun(run)
                let types = run.map(\.event.type.rawValue)
                #expect(Array(types.prefix(4)) == ["progress", "tools_executed", "progress", "decision_made"])
                #expect(types.last == "final")
                #expect(types.contains("chunk"))
                let retrieval = try #require(run.first { $0.event.type == .toolsExecuted }?.event)
                #expect(retrieval.node == "retrieve")
                #expect(retrieval.content["articles"]?[0]?["id"]?.stringValue == "kb-101", "\(retrieval.content)")
                let chunks = run.filter { $0.event.type == .chunk }.compactMap { $0.event.content["text"]?.stringValue }
                #expect(chunks.joined() == answer)
                #expect(run.last?.event.content["answer"]?.stringValue == answer)
            }
        }
    }

    /// Builds the example with `swift build` in its own scratch path, at a lower CPU priority than the other suites'
    /// processes, and returns its `support-worker`.
    ///
    /// - Throws: When the build fails or misses its deadline, with the end of its output.
    static func buildExample() async throws -> String {
        let directory = NSTemporaryDirectory() + "support-example-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ContinuousClock()
        let start = clock.now
        let build = try PoolProcess(
            name: "swift-build",
            arguments: ["nice", "-n", "19", "swift", "build", "--package-path", package, "--scratch-path", scratch],
            directory: directory,
            executable: "/usr/bin/env"
        )
        let seconds = Double(buildDeadline.components.seconds)
        let status = await build.waitForExit(seconds: seconds)
        let elapsed = start.duration(to: clock.now)
        if status == nil { await build.stop(grace: 10) }
        let output = (build.stdout + build.stderr).split(separator: "\n").suffix(80).joined(separator: "\n")
        try #require(
            status == 0,
            """
            swift build --package-path examples/support_agent \
            \(status.map { "exited \($0)" } ?? "did not finish within \(buildDeadline)") after \(elapsed):
            \(output)
            """
        )
        print("examples/support_agent built in \(elapsed.components.seconds) s")
        let executable = "\(scratch)/debug/support-worker"
        try #require(FileManager.default.isExecutableFile(atPath: executable), "no \(executable) after the build")
        return executable
    }
}

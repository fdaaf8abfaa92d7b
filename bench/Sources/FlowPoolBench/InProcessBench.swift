import ArgumentParser
import FlowCore

/// `flowpool-bench inprocess`: the agent4 workload in one process, with and without a live subscriber.
struct InProcessBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inprocess",
        abstract: "agent4 runs/s and events/s in process, with one live subscriber and with none."
    )

    @Option(help: "Runs per measurement.")
    var runs = 1_000_000

    @Option(help: "Concurrent driver tasks.")
    var drivers = 2

    @Option(help: "Runs a driver performs between yields to the scheduler (lets the subscriber drain).")
    var yieldEvery = 8

    @Option(help: "Subscription buffer size, in events.")
    var bufferSize = 1 << 16

    @Option(help: "Events per measurement of the bare emit cost.")
    var emits = 10_000_000

    @Option(help: "Repetitions; the best is reported.")
    var repeats = 3

    @Option(help: "Run only one part: agent4 or emit.")
    var only: String?

    @Option(help: "Warm-up runs before the agent4 measurements.")
    var warmup = 50_000

    @Option(help: "Which agent4 measurements: both, subscribed or quiet.")
    var agent4Mode = "both"

    func validate() throws {
        guard runs > 0, drivers > 0, yieldEvery > 0, bufferSize > 0, emits > 0, repeats > 0, warmup >= 0 else {
            throw ValidationError("All counts must be positive.")
        }
        guard ["both", "subscribed", "quiet"].contains(agent4Mode) else {
            throw ValidationError("--agent4-mode must be both, subscribed or quiet.")
        }
    }

    func run() async throws {
        let settings = self
        // Flows run off the main actor: every await from there would hop threads twice.
        try await Task.detached {
            try await settings.measureAll()
        }.value
    }

    private func measureAll() async throws {
        if only != "emit" { try await measureAgent4() }
        if only != "agent4" { try await measureEmit() }
    }

    private func measureAgent4() async throws {
        print("agent4 in process: \(runs) runs, \(drivers) drivers, yield every \(yieldEvery) runs")
        if warmup > 0 { _ = try await agent4(runs: warmup, subscribed: agent4Mode != "quiet") }

        if agent4Mode != "quiet" {
            var best = Agent4Measurement(runsPerSecond: 0, runsPerCPUSecond: 0, events: 0, dropped: 0)
            for _ in 0..<repeats {
                let result = try await agent4(runs: runs, subscribed: true)
                if result.runsPerSecond > best.runsPerSecond { best = result }
            }
            let expected = runs * Agent4.eventsPerRun
            print(
                "  one live subscriber: \(format(best.runsPerSecond)) runs/s, "
                    + "\(format(best.runsPerSecond * Double(Agent4.eventsPerRun))) events/s "
                    + "(\(format(best.runsPerCPUSecond)) runs per CPU-s); "
                    + "received \(best.events)/\(expected) events, dropped \(best.dropped)"
            )
            if best.events != expected || best.dropped != 0 {
                print("  WARNING: the subscriber did not receive every event")
            }
        }

        if agent4Mode != "subscribed" {
            var bestQuiet = Agent4Measurement(runsPerSecond: 0, runsPerCPUSecond: 0, events: 0, dropped: 0)
            for _ in 0..<repeats {
                let result = try await agent4(runs: runs, subscribed: false)
                if result.runsPerSecond > bestQuiet.runsPerSecond { bestQuiet = result }
            }
            print(
                "  no subscriber:       \(format(bestQuiet.runsPerSecond)) runs/s, "
                    + "\(format(bestQuiet.runsPerSecond * Double(Agent4.eventsPerRun))) events/s emitted "
                    + "(\(format(bestQuiet.runsPerCPUSecond)) runs per CPU-s)"
            )
        }
    }

    /// One agent4 measurement: wall-clock and CPU-time rates, and what the subscriber got.
    private struct Agent4Measurement {
        var runsPerSecond: Double
        /// Runs per second of process CPU time (all threads): less sensitive to other load on the machine.
        var runsPerCPUSecond: Double
        var events: Int
        var dropped: Int
    }

    private func measureEmit() async throws {
        let outside = emitOutsideRun(count: emits)
        print("  emit outside a run:  \(String(format2: outside)) ns/event")
        let quiet = try await emitInRun(count: emits, subscribed: false)
        print("  emit, nobody listening: \(String(format2: quiet.nanoseconds)) ns/event")
        let live = try await emitInRun(count: emits, subscribed: true)
        print(
            "  emit, one live subscriber: \(String(format2: live.nanoseconds)) ns/event "
                + "(\(format(1e9 / live.nanoseconds)) events/s), dropped \(live.dropped)"
        )
    }

    /// Runs agent4 `runs` times from `drivers` tasks; with a subscriber, waits until it has every event.
    private func agent4(runs: Int, subscribed: Bool) async throws -> Agent4Measurement {
        let streamer = EventStreamer()
        let subscription = subscribed ? try streamer.subscribe("sales_agent", bufferSize: bufferSize) : nil
        let expected = runs * Agent4.eventsPerRun
        let consumer = Task.detached { () -> Int in
            guard let subscription else { return 0 }
            var count = 0
            var finals = 0
            for await event in subscription {
                count += 1
                if event.type == .final {
                    finals += 1
                    if finals == runs { break }
                }
            }
            return count
        }
        let flow = Agent4.makeFlow()
        let drivers = self.drivers
        let yieldEvery = self.yieldEvery
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = ZeroMQBenchRunner.processCPUSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for driver in 0..<drivers {
                let share = runs / drivers + (driver < runs % drivers ? 1 : 0)
                group.addTask {
                    for i in 0..<share {
                        try await flow.run(
                            Agent4.makeStore(question: "What sold best?"),
                            namespace: "sales_agent",
                            sink: streamer
                        )
                        if i % yieldEvery == yieldEvery - 1 { await Task.yield() }
                    }
                }
            }
            try await group.waitForAll()
        }
        let received = await consumer.value
        let elapsed = start.duration(to: clock.now)
        let cpu = ZeroMQBenchRunner.processCPUSeconds() - cpuStart
        let dropped = subscription?.droppedCount ?? 0
        _ = expected
        return Agent4Measurement(
            runsPerSecond: Double(runs) / elapsed.seconds,
            runsPerCPUSecond: Double(runs) / max(1e-9, cpu),
            events: received,
            dropped: dropped
        )
    }

    /// The cost of `emit` with no run bound.
    private func emitOutsideRun(count: Int) -> Double {
        let clock = ContinuousClock()
        let content: JSONValue = ["status": "x"]
        let elapsed = clock.measure {
            for _ in 0..<count { emit(.progress, content) }
        }
        return elapsed.seconds * 1e9 / Double(count)
    }

    /// The cost of `emit` inside a run, with or without one subscriber draining every event.
    private func emitInRun(count: Int, subscribed: Bool) async throws -> (nanoseconds: Double, dropped: Int) {
        struct Emitter: Node {
            let count: Int
            static let content: JSONValue = ["status": "x"]
            func exec(_ prep: Void) async throws {
                for i in 0..<count {
                    emit(.progress, Self.content)
                    if i & 1023 == 1023 { await Task.yield() }
                }
            }
        }
        let streamer = EventStreamer()
        let subscription = subscribed ? try streamer.subscribe("bench", bufferSize: bufferSize) : nil
        let consumer = Task.detached { () -> Int in
            guard let subscription else { return 0 }
            var received = 0
            for await event in subscription {
                received += 1
                if event.type == .final { break }
            }
            return received
        }
        let clock = ContinuousClock()
        let start = clock.now
        try await Emitter(count: count).run(namespace: "bench", sink: streamer)
        _ = await consumer.value
        let elapsed = start.duration(to: clock.now)
        return (elapsed.seconds * 1e9 / Double(count), subscription?.droppedCount ?? 0)
    }

    private func format(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        var digits = String(rounded)
        var index = digits.endIndex
        while digits.distance(from: digits.startIndex, to: index) > 3 {
            index = digits.index(index, offsetBy: -3)
            digits.insert(",", at: index)
        }
        return digits
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}

extension String {
    fileprivate init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

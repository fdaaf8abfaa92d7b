import ArgumentParser
import CZeroMQ
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// `flowpool-bench zmq`: throughput of the ZeroMQ binding against the same loops written in C API calls.
struct ZeroMQBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq",
        abstract: "PUSH/PULL and PUB/SUB throughput over tcp loopback: binding vs raw C API, and the SocketLoop."
    )

    @Option(help: "Messages per run for 64-byte messages.")
    var smallMessages = 2_000_000

    @Option(help: "Messages per run for 1-KiB messages.")
    var largeMessages = 500_000

    @Option(help: "Runs per measurement; the median is reported.")
    var runs = 3

    func validate() throws {
        guard smallMessages > 0, largeMessages > 0, runs > 0 else {
            throw ValidationError("--small-messages, --large-messages and --runs must be positive")
        }
    }

    func run() async throws {
        let context = try Context()
        let rawContext = RawContext()
        print("ZeroMQ binding vs raw C API, tcp loopback, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(
            "pattern    size   messages   raw C msg/s   binding msg/s   binding/raw   per CPU-s: raw   binding   ratio"
        )
        for pattern in ZeroMQBenchPattern.allCases {
            for size in [64, 1024] {
                let count = size == 64 ? smallMessages : largeMessages
                var raw: [ZeroMQBenchRunner.Measurement] = []
                var binding: [ZeroMQBenchRunner.Measurement] = []
                for round in 0..<runs {
                    // Alternate which goes first so neither side always runs on a warmer machine.
                    if round % 2 == 1 {
                        binding.append(
                            try await ZeroMQBenchRunner.binding(pattern, size: size, count: count, context: context)
                        )
                    }
                    raw.append(try await ZeroMQBenchRunner.raw(pattern, size: size, count: count, context: rawContext))
                    if round % 2 == 0 {
                        binding.append(
                            try await ZeroMQBenchRunner.binding(pattern, size: size, count: count, context: context)
                        )
                    }
                }
                let rawRate = median(raw.map(\.rate))
                let bindingRate = median(binding.map(\.rate))
                let rawCPU = median(raw.map(\.cpuRate))
                let bindingCPU = median(binding.map(\.cpuRate))
                print(
                    "\(pattern.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  "
                        + "\(String(size).leftPadded(5))  \(String(count).leftPadded(9))  "
                        + "\(format(rawRate).leftPadded(12))  \(format(bindingRate).leftPadded(14))  "
                        + "\(String(format: "%.1f%%", 100 * bindingRate / rawRate).leftPadded(12))  "
                        + "\(format(rawCPU).leftPadded(14))  \(format(bindingCPU).leftPadded(8))  "
                        + "\(String(format: "%.1f%%", 100 * bindingCPU / rawCPU).leftPadded(6))"
                )
            }
        }
        print("")
        print("SocketLoop (I/O thread + AsyncSequence), PUSH/PULL tcp loopback")
        print("direction                                 size   messages   msg/s")
        for size in [64, 1024] {
            let count = size == 64 ? smallMessages : largeMessages
            var inbound: [Double] = []
            var outbound: [Double] = []
            for _ in 0..<runs {
                inbound.append(try await ZeroMQBenchRunner.loopInbound(size: size, count: count, context: context))
                outbound.append(try await ZeroMQBenchRunner.loopOutbound(size: size, count: count, context: context))
            }
            print(
                "socket -> loop -> async consumer (batches)  \(String(size).leftPadded(4))  "
                    + "\(String(count).leftPadded(9))  \(format(median(inbound)).leftPadded(10))"
            )
            print(
                "async send(contentsOf:) -> loop -> socket   \(String(size).leftPadded(4))  "
                    + "\(String(count).leftPadded(9))  \(format(median(outbound)).leftPadded(10))"
            )
        }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    private func format(_ rate: Double) -> String {
        rate >= 1_000_000 ? String(format: "%.2fM", rate / 1_000_000) : String(format: "%.0fk", rate / 1_000)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

import FlowCore
import FlowPool
import Synchronization

/// Small flows every worker knows, for checking a deployment and testing failure handling.
///
/// - `sleep`: input `{"ms": N}`; emits `progress` every 100 ms while it sleeps N ms, then `final`
///   with `{"slept_ms": N}`.
/// - `fail`: input `{"message": "…"}`; throws, so the run ends with an `error` event.
/// - `spin`: input `{"ms": N}`; computes for N ms without suspending (it holds its thread, like a CPU-bound
///   node does), then `final` with `{"spun_ms": N}`.
/// - `flaky`: input `{"failures": N}`; its node fails its first N execs (up to 4; it has 5 tries, 50 ms apart),
///   so the run shows N `retrying` events, then `final` with `{"tries": N + 1}`.
public enum DiagnosticFlows {
    /// Registers the diagnostic flows in `registry`.
    public static func register(in registry: FlowRegistry) {
        registry.register("sleep") {
            var flow = Flow(name: "sleep", resultKey: "result")
            _ = flow.add(SleepNode())
            return flow
        }
        registry.register("spin") {
            var flow = Flow(name: "spin", resultKey: "result")
            _ = flow.add(SpinNode())
            return flow
        }
        registry.register("flaky") {
            var flow = Flow(name: "flaky", resultKey: "result")
            _ = flow.add(FlakyNode())
            return flow
        }
        registry.register("fail") {
            var flow = Flow(name: "fail", resultKey: "result")
            _ = flow.add(FailNode())
            return flow
        }
    }

    struct SleepNode: Node {
        var name: String { "sleep" }

        func prep(_ shared: SharedStore) async throws -> Int { shared["ms"]?.intValue ?? 100 }

        func exec(_ ms: Int) async throws -> JSONValue {
            var left = ms
            while left > 0 {
                let step = min(left, 100)
                try await Task.sleep(for: .milliseconds(step))
                left -= step
                emit(.progress, ["slept_ms": .int(ms - left)])
            }
            return ["slept_ms": .int(ms)]
        }

        func post(_ shared: SharedStore, prep: Int, exec: JSONValue) async throws -> Action {
            shared["result"] = exec
            return .default
        }
    }

    struct SpinNode: Node {
        var name: String { "spin" }

        func prep(_ shared: SharedStore) async throws -> Int { shared["ms"]?.intValue ?? 100 }

        func exec(_ ms: Int) async throws -> JSONValue {
            let clock = ContinuousClock()
            let end = clock.now + .milliseconds(ms)
            var x: UInt64 = 1
            while clock.now < end {
                for _ in 0..<1000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
            }
            return ["spun_ms": .int(ms), "state": .int(Int(x >> 48))]
        }

        func post(_ shared: SharedStore, prep: Int, exec: JSONValue) async throws -> Action {
            shared["result"] = exec
            return .default
        }
    }

    struct FlakyNode: Node {
        struct Failure: Error, CustomStringConvertible {
            var description: String
        }

        /// Counts the execs of one visit (a node value is made per run).
        final class Tries: Sendable {
            let count = Mutex(0)
        }

        var name: String { "flaky" }
        var maxRetries: Int { 5 }
        var wait: Duration { .milliseconds(50) }
        let tries = Tries()

        func prep(_ shared: SharedStore) async throws -> Int { min(4, max(0, shared["failures"]?.intValue ?? 1)) }

        func exec(_ failures: Int) async throws -> JSONValue {
            let n = tries.count.withLock { n in
                n += 1
                return n
            }
            if n <= failures { throw Failure(description: "failure \(n) of \(failures), on purpose") }
            return ["tries": .int(n)]
        }

        func post(_ shared: SharedStore, prep: Int, exec: JSONValue) async throws -> Action {
            shared["result"] = exec
            return .default
        }
    }

    struct FailNode: Node {
        struct Failure: Error, CustomStringConvertible {
            var description: String
        }

        var name: String { "fail" }

        func prep(_ shared: SharedStore) async throws -> String {
            shared["message"]?.stringValue ?? "failed on purpose"
        }

        func exec(_ message: String) async throws -> JSONValue { throw Failure(description: message) }

        func post(_ shared: SharedStore, prep: String, exec: JSONValue) async throws -> Action { .default }
    }
}

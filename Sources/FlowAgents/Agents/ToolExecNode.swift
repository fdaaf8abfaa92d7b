import FlowCore
import Synchronization

/// Runs the validated tool calls concurrently, each with a timeout, and hands the results to the model.
///
/// The calls of one decision are independent (the model asked for them together), so they run at once.
/// A call that fails, times out or had invalid arguments becomes an error result
/// (`{"error": {"code", "message"}}`) that the model sees and can reason about; it never fails the run.
/// Emits `tools_executed {"count", "failed", "results": [{"tool", "ok", "ms"}]}` and loops back to the
/// decision.
public struct ToolExecNode: Node {
    public let toolbox: Toolbox
    public let systemPrompt: String?
    /// The longest a single tool call may take.
    public let timeout: Duration

    public var name: String { "tool_exec" }

    public init(toolbox: Toolbox, systemPrompt: String? = nil, timeout: Duration = .seconds(10)) {
        self.toolbox = toolbox
        self.systemPrompt = systemPrompt
        self.timeout = timeout
    }

    public func prep(_ shared: SharedStore) async throws -> [JSONValue] {
        shared[AgentKeys.params]?.arrayValue ?? []
    }

    public func exec(_ calls: [JSONValue]) async throws -> [JSONValue] {
        let results = try await withThrowingTaskGroup(of: (Int, JSONValue).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask { (index, await run(call)) }
            }
            var results = [JSONValue](repeating: .null, count: calls.count)
            for try await (index, result) in group { results[index] = result }
            return results
        }
        try Task.checkCancellation()
        let failed = results.filter { $0["ok"]?.boolValue == false }.count
        emit(
            .toolsExecuted,
            [
                "count": .int(results.count), "failed": .int(failed),
                "results": .array(
                    results.map { ["tool": $0["tool"] ?? nil, "ok": $0["ok"] ?? nil, "ms": $0["ms"] ?? nil] }
                ),
            ]
        )
        return results
    }

    public func post(_ shared: SharedStore, prep: [JSONValue], exec: [JSONValue]) async throws -> Action {
        shared[AgentKeys.tools] = .array(exec)
        let messages = exec.map { result in
            ChatMessage.tool(
                id: result["id"]?.stringValue ?? "",
                name: result["tool"]?.stringValue ?? "",
                result: (result["result"] ?? nil).jsonText
            )
        }
        try AgentConversation.append(messages, to: shared, system: systemPrompt)
        return .default
    }

    private func run(_ call: JSONValue) async -> JSONValue {
        let id = call["id"] ?? nil
        let toolName = call["tool"]?.stringValue ?? ""
        var entry: [String: JSONValue] = ["id": id, "tool": .string(toolName)]
        if let error = call["error"] {
            entry["ok"] = false
            entry["result"] = ["error": error]
            entry["ms"] = 0
            return .object(entry)
        }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let tool = try toolbox.tool(named: toolName)
            let arguments = ToolArguments(call["args"]?.objectValue ?? [:])
            let timeout = self.timeout
            entry["result"] = try await withDeadline(timeout, name: toolName) {
                try await tool.call(arguments)
            }
            entry["ok"] = true
        } catch let error as ToolError {
            entry["ok"] = false
            entry["result"] = error.asResult
        } catch is CancellationError {
            entry["ok"] = false
            entry["result"] = ToolError(.failed, "\(toolName): cancelled").asResult
        } catch {
            entry["ok"] = false
            entry["result"] = ToolError(.failed, "\(toolName) failed", cause: error).asResult
        }
        let elapsed = clock.now - start
        entry["ms"] = .double(
            (Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15)
        )
        return .object(entry)
    }
}

/// Runs `body`, failing with a `.timeout` ``ToolError`` if it does not finish within `timeout`.
///
/// The caller is released at the deadline even when `body` ignores cancellation (a blocking call on a
/// dispatch queue cannot be interrupted); `body` is cancelled and its late result discarded.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    name: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let gate = ResumeOnce<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            gate.install(continuation)
            let work = Task {
                do { gate.resume(.success(try await body())) } catch { gate.resume(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if gate.resume(.failure(ToolError(.timeout, "\(name) did not finish within \(timeout)"))) {
                    work.cancel()
                }
            }
            gate.onFinish {
                timer.cancel()
                work.cancel()
            }
        }
    } onCancel: {
        gate.resume(.failure(CancellationError()))
    }
}

/// Resumes a continuation exactly once, whoever comes first; later results are dropped.
private final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var onFinish: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { s in
            if let early = s.early {
                s.early = nil
                return early
            }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func onFinish(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s in
            if s.done { return true }
            s.onFinish = action
            return false
        }
        if runNow { action() }
    }

    /// Delivers `result` if nothing was delivered yet; returns whether it was.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let (continuation, action, delivered): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?, Bool) =
            state.withLock { s in
                guard !s.done else { return (nil, nil, false) }
                s.done = true
                let action = s.onFinish
                s.onFinish = nil
                if let c = s.continuation {
                    s.continuation = nil
                    return (c, action, true)
                }
                s.early = result
                return (nil, action, true)
            }
        continuation?.resume(with: result)
        action?()
        return delivered
    }
}

import FlowCore
import FlowPoolWorker
import Synchronization

/// What a demo's subscriptions saw: events per namespace, terminal events per run, misrouted events.
final class DemoRunTracker: Sendable {
    private struct State {
        var expected: Set<String>?
        var terminal: Set<String> = []
        var counts: [String: Int] = [:]
        var foreign: [String] = []
        var waiters: [CheckedContinuation<Void, Never>] = []

        var done: Bool { expected.map { $0.isSubset(of: terminal) } ?? false }
    }

    private let state = Mutex(State())

    /// Events received per namespace.
    var eventCounts: [String: Int] { state.withLock { $0.counts } }

    /// Events that arrived on another namespace's subscription (`ns/run` seen on `subscription`).
    var foreign: [String] { state.withLock { $0.foreign } }

    /// Names the runs (`ns/run`) whose terminal events ``allTerminal()`` waits for.
    func expect(_ runs: [String]) {
        resume { $0.expected = Set(runs) }
    }

    /// Counts an event.
    func record(_ event: StreamEvent, subscribedTo namespace: String) {
        resume { state in
            state.counts[event.namespace, default: 0] += 1
            if event.namespace != namespace {
                state.foreign.append("\(event.namespace)/\(event.runId) on \(namespace)")
            }
            if event.type.isTerminal { state.terminal.insert("\(event.namespace)/\(event.runId)") }
        }
    }

    /// Waits until every expected run has had its terminal event (cancellation ends the wait).
    func allTerminal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    if state.done || Task.isCancelled { return true }
                    state.waiters.append(c)
                    return false
                }
                if done { c.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.waiters = [] }
                return state.waiters
            }
            for w in waiters { w.resume() }
        }
    }

    private func resume(_ update: (inout State) -> Void) {
        let waiters = state.withLock { state in
            update(&state)
            guard state.done else { return [CheckedContinuation<Void, Never>]() }
            defer { state.waiters = [] }
            return state.waiters
        }
        for w in waiters { w.resume() }
    }
}

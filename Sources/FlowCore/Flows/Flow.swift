import Logging

/// A graph of steps joined by actions, run from a start step; itself a step, so flows nest.
///
/// Build a flow by adding steps and connecting them. The first step added is the start unless
/// ``start(at:)`` says otherwise. A visit runs the start step, then follows the ``Action`` each step returns
/// to its successor, until a step's action has no successor. The flow then returns that last action, so a
/// parent flow can branch on what the nested flow decided.
///
/// When a step that has successors returns an action none of them handles, the flow ends there and logs a
/// warning (a step with no successors at all ends the flow silently: that is a normal end). Connecting an
/// action a second time replaces the successor and logs a warning.
///
/// ```swift
/// var flow = Flow(name: "agent")
/// let decide = flow.add(Decide())
/// let act = flow.add(Act())
/// flow.connect(decide, on: "act", to: act)
/// flow.connect(act, to: decide)  // loop back
/// let result = try await flow.run(SharedStore(), namespace: "sales_agent")
/// ```
public struct Flow: FlowStep {
    /// A step's position in its flow, returned by ``add(_:name:)``.
    public struct StepID: Hashable, Sendable {
        let index: Int
    }

    struct Entry: Sendable {
        let name: String
        let step: any FlowStep
        var successors: [(action: Action, target: Int)] = []
    }

    public var name: String
    public var resultKey: String
    /// Receives the flow's warnings.
    public var logger: Logger
    var entries: [Entry] = []
    var startIndex: Int?

    /// Creates an empty flow.
    ///
    /// - Parameters:
    ///   - name: Names the flow in events (terminal events the engine emits) and logs.
    ///   - resultKey: The shared-store key whose value is a run's result (see ``FlowResult/value``).
    ///   - logger: Receives warnings about missing and replaced successors.
    public init(name: String = "flow", resultKey: String = "result", logger: Logger = Logger(label: "FlowCore")) {
        self.name = name
        self.resultKey = resultKey
        self.logger = logger
    }

    /// Adds a step, by default named by its ``FlowStep/name``; the first step added is the start.
    @discardableResult
    public mutating func add(_ step: some FlowStep, name: String? = nil) -> StepID {
        entries.append(Entry(name: name ?? step.name, step: step))
        if startIndex == nil { startIndex = entries.count - 1 }
        return StepID(index: entries.count - 1)
    }

    /// Makes `step` the one a visit starts with.
    public mutating func start(at step: StepID) {
        precondition(entries.indices.contains(step.index), "StepID does not belong to flow \(name)")
        startIndex = step.index
    }

    /// Makes `target` the successor of `source` for `action`, replacing (with a warning) an earlier one.
    public mutating func connect(_ source: StepID, on action: Action = .default, to target: StepID) {
        precondition(
            entries.indices.contains(source.index) && entries.indices.contains(target.index),
            "StepID does not belong to flow \(name)"
        )
        if let existing = entries[source.index].successors.firstIndex(where: { $0.action == action }) {
            logger.warning(
                "Successor replaced",
                metadata: [
                    "flow": "\(name)", "node": "\(entries[source.index].name)", "action": "\(action)",
                    "old": "\(entries[entries[source.index].successors[existing].target].name)",
                    "new": "\(entries[target.index].name)",
                ]
            )
            entries[source.index].successors[existing].target = target.index
        } else {
            entries[source.index].successors.append((action, target.index))
        }
    }

    /// Connects the steps one after the other on the default action.
    public mutating func chain(_ steps: StepID...) {
        for (source, target) in zip(steps, steps.dropFirst()) { connect(source, to: target) }
    }

    /// The names of the flow's steps, in the order they were added.
    public var stepNames: [String] { entries.map(\.name) }

    /// Runs the graph from the start step and returns the last step's action.
    ///
    /// - Throws: ``FlowError`` with code `emptyFlow` when no step was added; whatever a step throws;
    ///   `CancellationError` when the task is cancelled (checked before every step).
    public func visit(_ shared: SharedStore) async throws -> Action {
        guard let startIndex else {
            throw FlowError(.emptyFlow, "Flow \"\(name)\" has no steps; add one before running it.")
        }
        let context = EventContext.current
        var index = startIndex
        while true {
            try Task.checkCancellation()
            // Read the entry's fields in place: copying the whole entry retains and releases all of them.
            let name = entries[index].name
            let step = entries[index].step
            let action: Action
            if let context {
                do {
                    action = try await EventContext.$current.withValue(context.visiting(name)) {
                        try await step.visit(shared)
                    }
                } catch {
                    context.run.noteFailure(node: name)
                    throw error
                }
            } else {
                action = try await step.visit(shared)
            }
            guard let next = entries[index].successors.first(where: { $0.action == action }) else {
                if !entries[index].successors.isEmpty {
                    logger.warning(
                        "Flow ends: no successor for action",
                        metadata: [
                            "flow": "\(self.name)", "node": "\(name)", "action": "\(action)",
                            "known": "\(entries[index].successors.map(\.action.rawValue))",
                            "run.id": "\(context?.runId ?? "-")",
                        ]
                    )
                }
                return action
            }
            index = next.target
        }
    }
}

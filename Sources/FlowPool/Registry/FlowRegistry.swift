import FlowCore
import Synchronization

/// Names the flows a worker can run: flow name → factory.
///
/// A job names its flow (`"flow": "agent4"`); the worker looks the name up here and runs what the factory
/// returns. ``shared`` starts with `agent4`; registering more is one line:
///
/// ```swift
/// FlowRegistry.register("sales_agent") { SalesAgent.makeFlow() }
/// ```
///
/// By default the job's input becomes the run's shared store: an object's members become its keys, any other
/// value is stored under `input`. A factory that needs more control returns a ``FlowInvocation``.
public final class FlowRegistry: Sendable {
    /// Builds a run from a job's input.
    public typealias Factory = @Sendable (_ input: JSONValue) throws -> FlowInvocation

    private let factories: Mutex<[String: Factory]>

    /// A registry with the given flows.
    public init(_ factories: [String: Factory] = [:]) {
        self.factories = Mutex(factories)
    }

    /// The process-wide registry workers use unless given another; holds `agent4` from the start.
    public static let shared: FlowRegistry = {
        let registry = FlowRegistry()
        registry.register(Agent4.flowName) { Agent4.makeFlow() }
        DiagnosticFlows.register(in: registry)
        return registry
    }()

    /// Registers (or replaces) a flow whose shared store is built from the input.
    public func register(_ name: String, makeFlow: @escaping @Sendable () -> any FlowStep) {
        register(name, factory: { input in FlowInvocation(flow: makeFlow(), store: FlowInvocation.store(from: input)) })
    }

    /// Registers (or replaces) a flow with full control over the run.
    public func register(_ name: String, factory: @escaping Factory) {
        factories.withLock { $0[name] = factory }
    }

    /// Registers a flow in ``shared``.
    public static func register(_ name: String, makeFlow: @escaping @Sendable () -> any FlowStep) {
        shared.register(name, makeFlow: makeFlow)
    }

    /// Registers a flow with full control in ``shared``.
    public static func register(_ name: String, factory: @escaping Factory) {
        shared.register(name, factory: factory)
    }

    /// The factory registered under `name`.
    public func factory(for name: String) -> Factory? { factories.withLock { $0[name] } }

    /// The registered names, sorted.
    public var names: [String] { factories.withLock { $0.keys.sorted() } }
}

/// What a worker runs for one job: a flow, its shared store and its parameters.
public struct FlowInvocation: Sendable {
    public var flow: any FlowStep
    public var store: SharedStore
    public var params: [String: JSONValue]

    public init(flow: any FlowStep, store: SharedStore, params: [String: JSONValue] = [:]) {
        self.flow = flow
        self.store = store
        self.params = params
    }

    /// The default store for an input: an object's members, or the value under `input`.
    public static func store(from input: JSONValue) -> SharedStore {
        if case .object(let members) = input { return SharedStore(members) }
        return SharedStore(["input": input])
    }
}

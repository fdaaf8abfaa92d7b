import FlowCore
import Synchronization

/// Names the flows a worker can run: flow name → factory.
///
/// A job names its flow (`"flow": "agent4"`); the worker looks the name up here and runs what the factory
/// returns. ``shared`` starts empty; registering a flow is one line:
///
/// ```swift
/// FlowRegistry.register("sales_agent") { SalesAgent.makeFlow() }
/// FlowRegistry.register("agent4", flow: Agent4.makeFlow())   // built once, run for every job
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

    /// The process-wide registry workers use unless given another; empty until flows are registered (a worker
    /// carries only what its executable registers).
    public static let shared = FlowRegistry()

    /// Registers (or replaces) a flow whose shared store is built from the input.
    public func register(_ name: String, makeFlow: @escaping @Sendable () -> any FlowStep) {
        register(name, factory: { input in FlowInvocation(flow: makeFlow(), store: FlowInvocation.store(from: input)) })
    }

    /// Registers (or replaces) a flow built once and run for every job, whose shared store is built from the
    /// input. A flow is a value that runs never change (their state is in the shared store), so one serves
    /// any number of runs at once; a flow whose steps keep state of their own per run is registered with a
    /// `makeFlow` closure instead.
    public func register(_ name: String, flow: any FlowStep) {
        register(name, factory: { input in FlowInvocation(flow: flow, store: FlowInvocation.store(from: input)) })
    }

    /// Registers (or replaces) a flow with full control over the run.
    public func register(_ name: String, factory: @escaping Factory) {
        factories.withLock { $0[name] = factory }
    }

    /// Registers a flow in ``shared``.
    public static func register(_ name: String, makeFlow: @escaping @Sendable () -> any FlowStep) {
        shared.register(name, makeFlow: makeFlow)
    }

    /// Registers a flow built once in ``shared``.
    public static func register(_ name: String, flow: any FlowStep) {
        shared.register(name, flow: flow)
    }

    /// Registers a flow with full control in ``shared``.
    public static func register(_ name: String, factory: @escaping Factory) {
        shared.register(name, factory: factory)
    }

    /// Forgets every flow not named in `names`.
    public func keep(only names: Set<String>) {
        factories.withLock { $0 = $0.filter { names.contains($0.key) } }
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

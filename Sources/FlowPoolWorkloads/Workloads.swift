import FlowCore
import FlowPool

/// The benchmark and diagnostic flows the `flowpool` command's workers and the load harness register: the
/// reference workload `agent4`, its LLM-shaped variant `agent4_llm`, and `sleep`, `spin`, `flaky` and `fail`
/// (``DiagnosticFlows``). A worker of your own carries none of them unless it registers them.
public enum Workloads {
    /// Registers every workload flow in `registry`.
    public static func register(in registry: FlowRegistry) {
        registry.register(Agent4.flowName, flow: Agent4.makeFlow())
        DiagnosticFlows.register(in: registry)
        LLMShapedAgent4.register(in: registry)
    }
}

import FlowAgents
import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Logging

/// Makes the shipped agents (`sales_agent`, `stock_agent`) runnable by name on a worker.
enum AgentRegistration {
    /// Environment variable: milliseconds the offline model waits before each streamed word (default 0),
    /// so that answers visibly stream in a demo.
    static let tokenDelayVariable = "FLOWPOOL_OFFLINE_TOKEN_DELAY_MS"

    /// Registers every agent of ``Agents/all`` in `registry`, asking the model the environment selects.
    ///
    /// A job's input must be `{"question": "<text>"}` (``AgentDescriptor/makeStore(input:)``); its result is
    /// the answer string and its events go to the job's namespace. When the environment's model
    /// configuration is invalid, the agents are still registered and each of their runs fails with that
    /// configuration error, so the cause shows up in every result.
    ///
    /// - Parameters:
    ///   - registry: Where the agents go.
    ///   - environment: The variables that choose the model (see ``LLMProviders/fromEnvironment(_:logger:)``
    ///     and ``tokenDelayVariable``).
    ///   - logger: Receives the configuration error, if any.
    static func register(
        in registry: FlowRegistry,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "flowpool.agents")
    ) {
        let provider = Result { () throws(LLMError) -> any LLMProvider in
            try Self.provider(from: environment, logger: logger)
        }
        if case .failure(let error) = provider {
            logger.error("the agents' model is misconfigured; their runs will fail: \(error)")
        }
        for agent in Agents.all {
            let flow = provider.map { agent.makeFlow(provider: $0) }
            registry.register(agent.name) { input in
                FlowInvocation(flow: try flow.get(), store: try agent.makeStore(input: input))
            }
        }
    }

    /// The model the environment selects, with the offline model's token delay applied.
    ///
    /// - Throws: ``LLMError`` with code `.configuration` for an invalid configuration.
    static func provider(
        from environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "flowpool.agents")
    ) throws(LLMError) -> any LLMProvider {
        let provider = try LLMProviders.fromEnvironment(environment, logger: logger)
        guard provider is OfflineProvider, let text = environment[tokenDelayVariable], !text.isEmpty else {
            return provider
        }
        guard let ms = Int(text), (0...10_000).contains(ms) else {
            throw LLMError(
                .configuration,
                "\(tokenDelayVariable) must be 0…10000 milliseconds, got '\(text.prefix(20))'"
            )
        }
        return OfflineProvider(tokenDelay: .milliseconds(ms))
    }
}

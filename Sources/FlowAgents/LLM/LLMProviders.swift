import Foundation
import Logging

/// Chooses the model the agents use from the environment.
public enum LLMProviders {
    /// The provider the environment asks for.
    ///
    /// `FLOWPOOL_LLM=offline` selects ``OfflineProvider``; `FLOWPOOL_LLM=openai`, or any of `OPENAI_API_KEY`
    /// and `OPENAI_BASE_URL` being set (without `FLOWPOOL_LLM`), selects ``OpenAICompatibleProvider`` (see
    /// ``OpenAICompatibleProvider/fromEnvironment(_:logger:)``). Otherwise: offline.
    ///
    /// - Throws: ``LLMError`` with code `.configuration` for an unknown `FLOWPOOL_LLM` or an incomplete
    ///   OpenAI configuration.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "FlowAgents.llm")
    ) throws(LLMError) -> any LLMProvider {
        let wantsOpenAI =
            environment["OPENAI_API_KEY"]?.isEmpty == false || environment["OPENAI_BASE_URL"]?.isEmpty == false
        switch environment["FLOWPOOL_LLM"]?.lowercased() {
        case "offline"?: return OfflineProvider()
        case "openai"?: return try OpenAICompatibleProvider.fromEnvironment(environment, logger: logger)
        case nil, ""?:
            return wantsOpenAI
                ? try OpenAICompatibleProvider.fromEnvironment(environment, logger: logger) : OfflineProvider()
        case let other?:
            throw LLMError(.configuration, "FLOWPOOL_LLM must be 'offline' or 'openai', got '\(other.prefix(40))'")
        }
    }
}

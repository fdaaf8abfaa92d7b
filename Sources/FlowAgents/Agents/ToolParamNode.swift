import FlowCore

/// Turns the decided tool requests into arguments validated against each tool's schema.
///
/// A request for an unknown tool, with arguments that are not JSON, or that fail the schema becomes an error
/// entry; the exec node passes it to the model as that call's result so that the model can correct itself.
/// Emits `params_generated {"count", "valid", "invalid", "calls": [{"tool", "args"} | {"tool", "error"}]}`.
public struct ToolParamNode: Node {
    public let toolbox: Toolbox

    public var name: String { "tool_params" }

    public init(toolbox: Toolbox) {
        self.toolbox = toolbox
    }

    public func prep(_ shared: SharedStore) async throws -> [ToolCall] {
        (shared[AgentKeys.decision]?["tool_requests"]?.arrayValue ?? []).map { request in
            ToolCall(
                id: request["id"]?.stringValue ?? "",
                name: request["tool"]?.stringValue ?? "",
                arguments: request["arguments"]?.stringValue ?? ""
            )
        }
    }

    public func exec(_ calls: [ToolCall]) async throws -> [JSONValue] {
        let prepared: [JSONValue] = calls.map { call in
            do throws(ToolError) {
                let tool = try toolbox.tool(named: call.name)
                let arguments = try tool.validate(try call.parsedArguments())
                return ["id": .string(call.id), "tool": .string(call.name), "args": arguments.json]
            } catch {
                return ["id": .string(call.id), "tool": .string(call.name), "error": error.asResult["error"] ?? nil]
            }
        }
        let invalid = prepared.filter { $0["error"] != nil }.count
        emit(
            .paramsGenerated,
            [
                "count": .int(prepared.count), "valid": .int(prepared.count - invalid), "invalid": .int(invalid),
                "calls": .array(
                    prepared.map { p in
                        p["error"] != nil
                            ? ["tool": p["tool"] ?? nil, "error": p["error"]?["message"] ?? nil]
                            : ["tool": p["tool"] ?? nil, "args": p["args"] ?? nil]
                    }
                ),
            ]
        )
        return prepared
    }

    public func post(_ shared: SharedStore, prep: [ToolCall], exec: [JSONValue]) async throws -> Action {
        shared[AgentKeys.params] = .array(exec)
        return .default
    }
}

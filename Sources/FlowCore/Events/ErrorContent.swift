/// The content of every `error` event, in the one shape all of FlowPool writes:
/// `{"code": …, "message": …, "node": …}`.
///
/// `code` is a snake_case reason a program can switch on (`flow_failed`, `bad_input`, `unknown_flow`,
/// `attempts_exhausted`, …), `message` says what happened to a person, and `node` names the node that failed
/// (or the flow, or `flowpool` for the pool's own), when known.
public enum ErrorContent {
    /// The code of a flow whose node threw.
    public static let flowFailed = "flow_failed"

    /// An `error` event's content.
    public static func make(code: String, message: String, node: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let node { object["node"] = .string(node) }
        return .object(object)
    }
}

import FlowCore
import FlowPool
import HTTPTypes

/// A request the web view refuses, with the HTTP status, a snake_case code and a message for a person.
struct WebError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// A pool error as the page shows it: the coordinator's code and message, and a status that says whose fault it
    /// was (the request's, a permission, or the pool's).
    init(_ error: any Error) {
        guard let error = error as? PoolError else {
            self.init(.badGateway, "pool_error", "\(error)")
            return
        }
        let code = error.remoteCode?.rawValue ?? error.code.rawValue
        let status: HTTPResponse.Status
        switch code {
        case "bad_request", "invalid_argument", "unknown_flow", "no_worker_for_flow": status = .badRequest
        case "forbidden": status = .forbidden
        case "not_found": status = .notFound
        case "already_finished": status = .conflict
        case "pool_full", "draining", "busy", "timeout", "closed": status = .serviceUnavailable
        default: status = .badGateway
        }
        self.init(status, code, error.message)
    }

    var json: JSONValue { .object(["error": .string(code), "message": .string(message)]) }
}

import FlowCore

extension ControlReply {
    /// Reads a `result` or `result_batch` written the way the coordinator writes them — starting
    /// `{"v":1,"op":"result","id":…` or `{"v":1,"op":"result_batch","results":[…]}` — straight from the bytes,
    /// without a JSON value tree for the message. Returns nil for anything else, and for anything it would
    /// reject: ``decodeGeneral(_:)`` then decides, with its error messages, so both paths read alike.
    static func decodeResults(_ bytes: UnsafeRawBufferPointer) -> ControlReply? {
        var p = JSONParser(bytes)
        guard p.consume(#"{"v":1,"op":"result"#) else { return nil }
        do throws(JSONWireError) {
            if p.consume(#"_batch","results":["#) {
                let read = try p.readElements(limit: Int.max) { p throws(JSONWireError) -> RunResult? in
                    guard try p.peek() == UInt8(ascii: "{") else { return nil }
                    p.index += 1
                    var fields = ResultReplyFields(element: true)
                    return try fields.read(&p) ? fields.result : nil
                }
                guard let results = read, try p.peek() == UInt8(ascii: "}") else { return nil }
                p.index += 1
                try p.expectEnd()
                return .resultBatch(results)
            }
            // A single result: its other members follow in the same object.
            guard p.consume(#"","#) else { return nil }
            var fields = ResultReplyFields(element: false)
            guard try fields.read(&p), let result = fields.result else { return nil }
            try p.expectEnd()
            return .result(result)
        } catch {
            return nil
        }
    }

    /// Reads an `accepted_batch` written the way the coordinator writes it —
    /// `{"v":1,"op":"accepted_batch","id":…,"items":[{"id":…,"job":…,"ns":…,"run":…}, …]}`, an item being an
    /// `error` answer where it has a `code` — straight from the bytes, like ``decodeResults(_:)``: nil for
    /// anything else and for anything it would reject, which ``decodeGeneral(_:)`` then decides.
    static func decodeAcceptedBatch(_ bytes: UnsafeRawBufferPointer) -> ControlReply? {
        var p = JSONParser(bytes)
        guard p.consume(#"{"v":1,"op":"accepted_batch","id":"#) else { return nil }
        do throws(JSONWireError) {
            guard try p.peek() == UInt8(ascii: "\"") else { return nil }
            let id = try p.parseString()
            guard p.consume(#","items":["#) else { return nil }
            let read = try p.readElements(limit: Int.max) { p throws(JSONWireError) -> ControlReply? in
                guard try p.peek() == UInt8(ascii: "{") else { return nil }
                p.index += 1
                return try AcceptedItemFields.read(&p)
            }
            guard let answers = read, try p.peek() == UInt8(ascii: "}") else { return nil }
            p.index += 1
            try p.expectEnd()
            return .acceptedBatch(id: id, answers: answers)
        } catch {
            return nil
        }
    }
}

/// The members of one item of `accepted_batch`, read one by one: an `accepted` answer (`id`, `job`, `ns`,
/// `run`) or, with a `code`, an `error` answer (`id` or null, `code`, `message`).
private enum AcceptedItemFields {
    /// Reads members through the item's closing brace; the parser stands at the first member's key. Nil when
    /// a member is not as the general decoder takes it.
    static func read(_ p: inout JSONParser) throws(JSONWireError) -> ControlReply? {
        var id: String?
        var job: String?
        var namespace: String?
        var runId: String?
        var code: String?
        var message: String?
        var seen = JSONParser.ObjectFields(known: Self.members)
        let read = try p.readMembers(&seen) { key, p throws(JSONWireError) -> Bool in
            let first = try p.peek()
            // An error answer's id may be null.
            if key == "id", first == UInt8(ascii: "n") { return p.consume("null") }
            guard first == UInt8(ascii: "\"") else { return false }
            let text = try p.parseString()
            switch key {
            case "id": id = text
            case "job": job = text
            case "ns": namespace = text
            case "run": runId = text
            case "code": code = text
            case "message": message = text
            default: return false
            }
            return true
        }
        guard read else { return nil }
        if let code {
            guard let message else { return nil }
            return .error(id: id, code: PoolErrorCode(code), message: message)
        }
        guard let id, let job, let namespace, let runId else { return nil }
        return .accepted(id: id, job: job, namespace: namespace, runId: runId)
    }

    private static let members = ["id", "job", "ns", "run", "code", "message"]
}

/// The members of one `result` message, or of one element of `result_batch`, read one by one.
private struct ResultReplyFields {
    /// An element of `result_batch` (its own `v` and `op` are not read, as the general decoder does not read
    /// them), or the rest of a `result` message after its `v` and `op`.
    let element: Bool
    var id: String?
    var job: String?
    var namespace: String?
    var runId: String?
    var status: RunResult.Status?
    var attempts: Int?
    var value: JSONValue = .null
    var errorCode: PoolErrorCode?
    var errorMessage: String?

    init(element: Bool) { self.element = element }

    /// The members a result has.
    private static let members = ["id", "job", "ns", "run", "status", "attempts", "result", "error", "v", "op"]

    /// Reads members through the object's closing brace; the parser stands at the first member's key. False
    /// when a member is not as the general decoder takes it.
    mutating func read(_ p: inout JSONParser) throws(JSONWireError) -> Bool {
        // Values inside: depth 1 in a `result` message; message, `results` array, element in a batch.
        let depth = element ? 3 : 1
        let element = element
        var seen = JSONParser.ObjectFields(known: Self.members)
        let read = try p.readMembers(&seen) { key, p throws(JSONWireError) -> Bool in
            let first = try p.peek()
            switch key {
            case "id", "job", "ns", "run", "status":
                guard first == UInt8(ascii: "\"") else { return false }
                let text = try p.parseString()
                switch key {
                case "id": id = text
                case "job": job = text
                case "ns": namespace = text
                case "run": runId = text
                default:
                    guard let s = RunResult.Status(rawValue: text) else { return false }
                    status = s
                }
            case "attempts":
                guard let n = try p.readCount() else { return false }
                attempts = n
            case "result":
                value = try p.parseValue(depth: depth)
            case "error":
                (errorCode, errorMessage) = try p.readOutcomeError(depth: depth)
            case "v" where element, "op" where element:
                try p.skipValue(depth: depth)
            default:
                return false
            }
            return true
        }
        return read && result != nil
    }

    var result: RunResult? {
        guard let id, let job, let namespace, let runId, let status, let attempts else { return nil }
        return RunResult(
            id: id,
            job: job,
            namespace: namespace,
            runId: runId,
            status: status,
            attempts: attempts,
            result: value,
            errorCode: errorCode,
            errorMessage: errorMessage
        )
    }
}

extension JSONParser {
    /// Reads a non-negative integer written as plain digits, as a direct reader takes it; nil for anything
    /// else (a fraction, an exponent, a sign), which the general decoder then decides on.
    mutating func readCount() throws(JSONWireError) -> Int? {
        guard try peek() != UInt8(ascii: "-") else { return nil }
        let (start, end, integral) = try scanNumber()
        guard integral, let n = JSONParser.integer(bytes, start, end), n <= PoolProtocol.maxInteger else { return nil }
        return n
    }

    /// Reads a run outcome's `error` value as the general decoders do: only an object's string `code` and
    /// `message` count.
    mutating func readOutcomeError(depth: Int) throws(JSONWireError) -> (PoolErrorCode?, String?) {
        guard case .object(let e) = try parseValue(depth: depth) else { return (nil, nil) }
        return (e["code"]?.stringValue.map(PoolErrorCode.init(rawValue:)), e["message"]?.stringValue)
    }
}

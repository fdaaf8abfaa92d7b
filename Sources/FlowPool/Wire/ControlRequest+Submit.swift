import FlowCore

extension ControlRequest {
    /// Reads a `submit` or `submit_batch` written the way FlowPool's clients write them — starting
    /// `{"v":1,"op":"submit","id":…` or `{"v":1,"op":"submit_batch","id":…,"runs":[…]}` — straight from the
    /// bytes, without a JSON value tree. Returns nil for anything else, and for anything it would reject:
    /// ``decodeGeneral(_:)`` then decides, with its error messages, so both paths accept exactly the same.
    static func decodeSubmit(_ bytes: UnsafeRawBufferPointer) -> ControlRequest? {
        var p = JSONParser(bytes)
        guard p.consume(#"{"v":1,"op":"submit"#) else { return nil }
        let batch = p.consume(#"_batch","id":"#)
        guard batch || p.consume(#"","id":"#) else { return nil }
        do throws(JSONWireError) {
            guard try p.peek() == UInt8(ascii: "\"") else { return nil }
            let id = try p.parseString()
            guard id.utf8.count <= 256 else { return nil }
            if batch {
                guard p.consume(#","runs":["#) else { return nil }
                let read = try p.readElements(limit: 1000) { p throws(JSONWireError) -> SubmitRequest? in
                    guard try p.peek() == UInt8(ascii: "{") else { return nil }
                    p.index += 1
                    // A run's values sit in the message object, the `runs` array and the run's object.
                    var fields = SubmitFields(depth: 3)
                    guard try fields.read(&p, atFirstMember: true) else { return nil }
                    return fields.request(id: nil)
                }
                guard let runs = read else { return nil }
                guard try p.peek() == UInt8(ascii: "}") else { return nil }
                p.index += 1
                try p.expectEnd()
                return .submitBatch(id: id, runs: runs)
            }
            // A single submit: the run's fields follow in the same object, whose `v` and `op` were read with the
            // prefix (a second one is a duplicate key, which the general decoder refuses; `request(id:)` refuses
            // a second `id`).
            var fields = SubmitFields(depth: 1)
            for key in ["v", "op"] { _ = fields.seen.insert(key) }
            guard try fields.read(&p, atFirstMember: false), let run = fields.request(id: id) else { return nil }
            try p.expectEnd()
            return .submit(run)
        } catch {
            return nil
        }
    }
}

/// The fields of one submit, read member by member.
private struct SubmitFields {
    /// The nesting depth of the object's values, as the general decoder counts it.
    let depth: Int
    var id: String?
    var flow: String?
    var namespace: String?
    var runId: String?
    var input: JSONValue = .null
    var reply = true
    var maxAttempts: Int?
    var deadlineMilliseconds: Int?
    var requireWorker = false
    var seen = JSONParser.ObjectFields(known: Self.members)
    /// The members a submit has (others are skipped).
    private static let members = [
        "id", "flow", "ns", "run", "input", "reply", "max_attempts", "deadline_ms", "require_worker",
    ]

    init(depth: Int) { self.depth = depth }

    /// Reads members up to and including the object's closing brace. `atFirstMember`: the parser stands
    /// right after `{`; otherwise after a member, before `,` or `}`. False when a member is not as a
    /// submit requires.
    mutating func read(_ p: inout JSONParser, atFirstMember: Bool) throws(JSONWireError) -> Bool {
        if atFirstMember {
            if try p.peek() == UInt8(ascii: "}") {
                p.index += 1
                return true
            }
        } else {
            let b = try p.peek()
            p.index += 1
            if b == UInt8(ascii: "}") { return true }
            guard b == UInt8(ascii: ",") else { return false }
        }
        let depth = depth
        var fields = seen
        defer { seen = fields }
        return try p.readMembers(&fields) { key, p throws(JSONWireError) -> Bool in
            let value = try p.peek()
            let isNull = value == UInt8(ascii: "n")
            switch key {
            case "id", "flow", "ns", "run":
                if isNull && key == "run" {
                    _ = try p.parseValue(depth: depth)
                    break
                }
                guard value == UInt8(ascii: "\"") else { return false }
                let text = try p.parseString()
                switch key {
                case "id": id = text
                case "flow": flow = text
                case "ns": namespace = text
                default: runId = text
                }
            case "input":
                input = try p.parseValue(depth: depth)
            case "reply", "require_worker":
                let v = try p.parseValue(depth: depth)
                if !v.isNull {
                    guard let b = v.boolValue else { return false }
                    if key == "reply" { reply = b } else { requireWorker = b }
                }
            case "max_attempts":
                let v = try p.parseValue(depth: depth)
                if !v.isNull {
                    guard let n = v.intValue, (1...PoolProtocol.maxAttempts).contains(n) else { return false }
                    maxAttempts = n
                }
            case "deadline_ms":
                let v = try p.parseValue(depth: depth)
                if !v.isNull {
                    guard let n = v.intValue, (1...PoolProtocol.maxDeadlineMilliseconds).contains(n) else {
                        return false
                    }
                    deadlineMilliseconds = n
                }
            default:
                try p.skipValue(depth: depth)
            }
            return true
        }
    }

    /// The request, or nil when a field is missing or out of bounds. `id`: the message's id (a single
    /// submit), or nil to take the run's own (an element of `submit_batch`).
    func request(id messageId: String?) -> SubmitRequest? {
        guard let id = messageId ?? id, let flow, !flow.isEmpty, flow.utf8.count <= 128, let namespace,
            PoolNames.problem(namespace: namespace) == nil
        else { return nil }
        if messageId != nil, seen.contains("id") { return nil }
        if let runId, PoolNames.problem(runId: runId) != nil { return nil }
        return SubmitRequest(
            id: id,
            flow: flow,
            namespace: namespace,
            runId: runId,
            input: input,
            reply: reply,
            maxAttempts: maxAttempts,
            deadlineMilliseconds: deadlineMilliseconds,
            requireWorker: requireWorker
        )
    }
}

import FlowCore

/// The results of several attempts in one `results` message (docs/PROTOCOL.md, "Worker endpoint").
///
/// The message is `1 + 2n` frames: `{"v":1,"op":"results","results":[…]}` with one element per result, each
/// the fields of a `result` message without `v` and `op`, then each result's terminal event (topic, envelope)
/// in the order of the elements. An element that cannot be read is set aside in ``rejected`` with why; the
/// others still count.
public struct WorkerResults: Sendable, Hashable {
    /// An element of `results` that could not be read.
    public struct Rejection: Sendable, Hashable {
        /// Its position in `results`.
        public var index: Int
        public var error: JSONWireError

        public init(index: Int, error: JSONWireError) {
            self.index = index
            self.error = error
        }
    }

    /// The results that could be read, in message order.
    public var results: [WorkerResult]
    /// The elements that could not.
    public var rejected: [Rejection]

    /// Most results in one message.
    public static let maxPerMessage = 256

    public init(_ results: [WorkerResult], rejected: [Rejection] = []) {
        self.results = results
        self.rejected = rejected
    }

    /// The frames of a `results` message from elements already encoded (``WorkerResult/element``) and the
    /// matching terminal events.
    static func frames(elements: [[UInt8]], terminals: [RawEvent]) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(1 + 2 * terminals.count)
        frames.append(PoolProtocol.arrayMessage("results", "results", elements))
        for terminal in terminals {
            frames.append(terminal.topic)
            frames.append(terminal.envelope)
        }
        return frames
    }

    /// Reads a `results` message whose first frame is parsed as `f`.
    ///
    /// - Throws: ``JSONWireError`` when the message as a whole is unusable: `results` is not a non-empty array,
    ///   or the frame count is not `1 + 2n`. A bad element is not thrown but listed in ``rejected``.
    static func decode(_ f: MessageFields, frames: [[UInt8]]) throws(JSONWireError) -> WorkerResults {
        guard let items = f.object["results"]?.arrayValue, !items.isEmpty, items.count <= maxPerMessage else {
            throw JSONWireError(.badField, "results: \"results\" must be an array of 1 to \(maxPerMessage) results")
        }
        guard frames.count == 1 + 2 * items.count else {
            throw JSONWireError(
                .badField,
                "results: \(items.count) results need \(1 + 2 * items.count) frames, got \(frames.count)"
            )
        }
        var batch = WorkerResults([])
        batch.results.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let terminal = RawEvent(topic: frames[1 + 2 * index], envelope: frames[2 + 2 * index])
            do throws(JSONWireError) {
                guard case .object(let o) = item else {
                    throw JSONWireError(.badField, "results[\(index)]: each result is an object")
                }
                let fields = MessageFields(object: o, op: "results[\(index)]")
                batch.results.append(try WorkerResult(fields: fields, terminal: terminal))
            } catch {
                batch.rejected.append(Rejection(index: index, error: error))
            }
        }
        return batch
    }
}

extension WorkerResult {
    /// Reads the fields of a `result` message, or of an element of `results`.
    init(fields f: MessageFields, terminal: RawEvent) throws(JSONWireError) {
        guard let status = RunResult.Status(rawValue: try f.string("status")) else {
            throw JSONWireError(.badField, "\(f.op): \"status\" must be \"completed\" or \"failed\"")
        }
        var code: PoolErrorCode?
        var message: String?
        if case .object(let e) = f.value("error") {
            code = e["code"]?.stringValue.map(PoolErrorCode.init(rawValue:))
            message = e["message"]?.stringValue
        }
        self.init(
            job: try f.string("job"),
            attempt: try f.int("attempt", min: 1),
            status: status,
            result: f.value("result"),
            errorCode: code,
            errorMessage: message,
            terminal: terminal
        )
    }

    /// Writes the members of a `result` message after `v` and `op`: `job`, `attempt`, `status`, then `result`
    /// and `error` unless null.
    func writeFields(_ w: inout JSONWriter) {
        w.raw("\"job\":")
        w.string(job)
        w.raw(",\"attempt\":")
        w.int(attempt)
        w.raw(",\"status\":")
        w.string(status.rawValue)
        w.outcome(result: result, errorCode: errorCode, errorMessage: errorMessage)
    }

    /// The result as an element of a `results` message: a JSON object of the fields of ``writeFields(_:)``.
    var element: [UInt8] {
        var w = JSONWriter(capacity: 96)
        w.byte(UInt8(ascii: "{"))
        writeFields(&w)
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }

    /// The first frame of a `result` message made from an encoded ``element``: `{"v":1,"op":"result",` and the
    /// element's members.
    static func resultFrame(element: [UInt8]) -> [UInt8] {
        var frame = Array(#"{"v":1,"op":"result","#.utf8)
        frame.reserveCapacity(frame.count + element.count)
        frame += element.dropFirst()
        return frame
    }
}

extension WorkerResults {
    /// Reads a `results` message written the way workers write it — `{"v":1,"op":"results","results":[{"job":…,
    /// "attempt":…,"status":…,…}, …]}` and the terminal events' frames — straight from the bytes, without a JSON
    /// value tree for the message. Returns nil for anything else, and for anything it would not take whole
    /// (an element the general decoder rejects or reads differently): ``decode(_:frames:)`` then decides, with
    /// its error messages and rejections, so both paths read alike.
    static func decodeDirect(_ frames: [[UInt8]]) -> WorkerResults? {
        guard let first = frames.first else { return nil }
        return first.withUnsafeBytes { bytes -> WorkerResults? in
            var p = JSONParser(bytes)
            guard p.consume(#"{"v":1,"op":"results","results":["#) else { return nil }
            do throws(JSONWireError) {
                var index = 0
                let read = try p.readElements(limit: maxPerMessage) { p throws(JSONWireError) -> WorkerResult? in
                    guard try p.peek() == UInt8(ascii: "{"), frames.count >= 3 + 2 * index else { return nil }
                    p.index += 1
                    let terminal = RawEvent(topic: frames[1 + 2 * index], envelope: frames[2 + 2 * index])
                    index += 1
                    var fields = WorkerResultFields()
                    return try fields.read(&p) ? fields.result(terminal: terminal) : nil
                }
                guard let results = read, frames.count == 1 + 2 * results.count, try p.peek() == UInt8(ascii: "}")
                else { return nil }
                p.index += 1
                try p.expectEnd()
                return WorkerResults(results)
            } catch {
                return nil
            }
        }
    }
}

/// The members of one element of a `results` message, read one by one.
private struct WorkerResultFields {
    var job: String?
    var attempt: Int?
    var status: RunResult.Status?
    var value: JSONValue = .null
    var errorCode: PoolErrorCode?
    var errorMessage: String?

    /// The members an element has.
    private static let members = ["job", "attempt", "status", "result", "error"]

    /// Reads members through the element's closing brace; the parser stands at the first member's key. False
    /// when a member is not as the general decoder takes it (it ignores unknown members; this reader leaves
    /// them to it).
    mutating func read(_ p: inout JSONParser) throws(JSONWireError) -> Bool {
        // Values inside the message, the `results` array and the element.
        let depth = 3
        var seen = JSONParser.ObjectFields(known: Self.members)
        let read = try p.readMembers(&seen) { key, p throws(JSONWireError) -> Bool in
            let first = try p.peek()
            switch key {
            case "job", "status":
                guard first == UInt8(ascii: "\"") else { return false }
                let text = try p.parseString()
                if key == "job" {
                    job = text
                } else {
                    guard let s = RunResult.Status(rawValue: text) else { return false }
                    status = s
                }
            case "attempt":
                guard let n = try p.readCount(), n >= 1 else { return false }
                attempt = n
            case "result":
                value = try p.parseValue(depth: depth)
            case "error":
                (errorCode, errorMessage) = try p.readOutcomeError(depth: depth)
            default:
                return false
            }
            return true
        }
        return read && job != nil && attempt != nil && status != nil
    }

    func result(terminal: RawEvent) -> WorkerResult? {
        guard let job, let attempt, let status else { return nil }
        return WorkerResult(
            job: job,
            attempt: attempt,
            status: status,
            result: value,
            errorCode: errorCode,
            errorMessage: errorMessage,
            terminal: terminal
        )
    }
}

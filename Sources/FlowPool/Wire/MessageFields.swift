import FlowCore

/// Typed access to the fields of a protocol message, with errors that name the field.
struct MessageFields {
    let object: [String: JSONValue]
    let op: String

    /// Parses a one-frame protocol message: a JSON object with `"v": 1` and a string `"op"`.
    init(frame: some Collection<UInt8>) throws(JSONWireError) {
        let value = try JSONValue(wireBytes: frame)
        guard case .object(let object) = value else {
            throw JSONWireError(.badField, "a message is a JSON object")
        }
        guard let v = object["v"]?.intValue else {
            throw JSONWireError(.badField, "field \"v\" (protocol version, an integer) is missing")
        }
        guard v == PoolProtocol.version else {
            throw JSONWireError(
                .unsupportedVersion,
                "protocol version \(v) is not supported; this build speaks \(PoolProtocol.version)"
            )
        }
        guard let op = object["op"]?.stringValue else {
            throw JSONWireError(.badField, "field \"op\" (a string) is missing")
        }
        self.object = object
        self.op = op
    }

    func string(_ key: String) throws(JSONWireError) -> String {
        guard let s = object[key]?.stringValue else {
            throw JSONWireError(.badField, "\(op): field \"\(key)\" must be a string")
        }
        return s
    }

    func optionalString(_ key: String) throws(JSONWireError) -> String? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw JSONWireError(.badField, "\(op): field \"\(key)\" must be a string") }
        return s
    }

    /// An integer field within `min...max` (by default at most ``PoolProtocol/maxInteger``).
    func int(_ key: String, min: Int = 0, max: Int = PoolProtocol.maxInteger) throws(JSONWireError) -> Int {
        guard let i = object[key]?.intValue, i >= min, i <= max else {
            throw Self.outOfRange(op, key, min, max)
        }
        return i
    }

    /// An optional integer field within `min...max` (by default at most ``PoolProtocol/maxInteger``).
    func optionalInt(
        _ key: String,
        min: Int = 0,
        max: Int = PoolProtocol.maxInteger
    ) throws(JSONWireError) -> Int? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let i = v.intValue, i >= min, i <= max else { throw Self.outOfRange(op, key, min, max) }
        return i
    }

    static func outOfRange(_ op: String, _ key: String, _ min: Int, _ max: Int) -> JSONWireError {
        JSONWireError(.badField, "\(op): field \"\(key)\" must be an integer from \(min) to \(max)")
    }

    func bool(_ key: String, default value: Bool) throws(JSONWireError) -> Bool {
        guard let v = object[key], !v.isNull else { return value }
        guard let b = v.boolValue else { throw JSONWireError(.badField, "\(op): field \"\(key)\" must be a boolean") }
        return b
    }

    func value(_ key: String) -> JSONValue { object[key] ?? .null }

    func namespace(_ key: String = "ns") throws(JSONWireError) -> String {
        let ns = try string(key)
        if let problem = PoolNames.problem(namespace: ns) { throw JSONWireError(.badField, "\(op): \(problem)") }
        return ns
    }

    func runId(_ key: String = "run") throws(JSONWireError) -> String {
        let run = try string(key)
        if let problem = PoolNames.problem(runId: run) { throw JSONWireError(.badField, "\(op): \(problem)") }
        return run
    }
}

/// Version and limits of the FlowPool wire protocol.
public enum PoolProtocol {
    /// The protocol version this build speaks (field `v` of every message and envelope).
    public static let version = 1

    /// The largest integer any field may carry: 2^53 − 1, the largest that every JSON reader holds exactly.
    /// Readers reject larger ones, so no arithmetic on a peer's number can overflow.
    public static let maxInteger = (1 << 53) - 1

    /// The largest `seq` of a worker's event: one less than ``maxInteger``, so that the error event the coordinator
    /// writes after a run's last event (its `seq` + 1) is still in range.
    public static let maxWorkerSeq = maxInteger - 1

    /// The largest `concurrency` a worker may announce (and so the most jobs it may hold at once).
    public static let maxConcurrency = 10_000

    /// The largest `max_attempts` a submit may ask for.
    public static let maxAttempts = 100

    /// The most flows a worker's `hello` may name.
    static let maxWorkerFlows = 1_000
    /// The longest `deadline_ms` a submit may give: 30 days.
    public static let maxDeadlineMilliseconds = 30 * 24 * 3_600_000

    /// A message whose only field besides `v` and `op` is an array of messages already encoded, each an
    /// element byte for byte: `{"v":1,"op":"<op>","<key>":[…]}` (`result_batch`, `jobs`).
    static func arrayMessage(_ op: String, _ key: String, _ elements: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + op.utf8.count + key.utf8.count + elements.reduce(2) { $0 + $1.count + 1 })
        head(&w, op)
        w.byte(UInt8(ascii: ","))
        w.string(key)
        w.raw(":[")
        for (i, element) in elements.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.bytes.append(contentsOf: element)
        }
        w.raw("]}")
        return w.bytes
    }

    /// Writes the common head of a message: `{"v":1,"op":"<op>"`.
    static func head(_ w: inout JSONWriter, _ op: String) {
        w.raw("{\"v\":1,\"op\":")
        w.string(op)
    }

    /// Builds a one-frame message from an op and its fields.
    static func message(_ op: String, _ fields: KeyValuePairs<String, JSONValue>) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        head(&w, op)
        for (k, v) in fields where !v.isNull {
            w.byte(UInt8(ascii: ","))
            w.string(k)
            w.byte(UInt8(ascii: ":"))
            w.value(v)
        }
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }
}

import FlowCore

extension WorkerCommand {
    /// Reads a `job` or `jobs` message written the way the coordinator writes them — each job starting
    /// `{"v":1,"op":"job",`, a `jobs` message starting `{"v":1,"op":"jobs","jobs":[` — straight from the bytes,
    /// without a JSON value tree for the message (only each job's `input` becomes a value). Returns nil for
    /// anything else and for anything it would reject: the general decoder then decides, with its error
    /// messages, so both paths accept exactly the same.
    static func decodeJobs(_ bytes: UnsafeRawBufferPointer) -> WorkerCommand? {
        var p = JSONParser(bytes)
        do throws(JSONWireError) {
            if p.consume(#"{"v":1,"op":"jobs","jobs":["#) {
                // The general decoder parses a job inside `jobs` at depth 3 (message, array, job).
                let read = try p.readElements(limit: 100_000) { p throws(JSONWireError) in try readJob(&p, depth: 3) }
                guard let list = read else { return nil }
                guard try p.peek() == UInt8(ascii: "}") else { return nil }
                p.index += 1
                try p.expectEnd()
                return .jobs(list)
            }
            guard let job = try readJob(&p, depth: 1) else { return nil }
            try p.expectEnd()
            return .job(job)
        } catch {
            return nil
        }
    }

    /// Reads one job message, `{"v":1,"op":"job",…}`, up to and including its closing brace; nil when it is not
    /// one the general decoder accepts. `depth`: the nesting depth of the job's object in the message.
    private static func readJob(_ p: inout JSONParser, depth: Int) throws(JSONWireError) -> JobAssignment? {
        guard p.consume(#"{"v":1,"op":"job","#) else { return nil }
        var job: String?
        var attempt: Int?
        var flow: String?
        var namespace: String?
        var runId: String?
        var input: JSONValue = .null
        // Keys seen: the known ones as bits, others (rare) in a set; a key seen twice is left to the general decoder.
        var seen: UInt8 = 0
        var others: Set<String> = []
        while true {
            guard try p.peek() == UInt8(ascii: "\"") else { return nil }
            let key = try p.parseString()
            let bit: UInt8 =
                switch key {
                case "job": 1
                case "attempt": 2
                case "flow": 4
                case "ns": 8
                case "run": 16
                case "input": 32
                default: 0
                }
            if key == "v" || key == "op" { return nil }
            if bit == 0 {
                guard others.insert(key).inserted else { return nil }
            } else {
                guard seen & bit == 0 else { return nil }
                seen |= bit
            }
            try p.expect(UInt8(ascii: ":"), "':'")
            switch key {
            case "job", "flow", "ns", "run":
                guard try p.peek() == UInt8(ascii: "\"") else { return nil }
                let text = try p.parseString()
                switch key {
                case "job": job = text
                case "flow": flow = text
                case "ns": namespace = text
                default: runId = text
                }
            case "attempt":
                guard let n = try p.parseValue(depth: depth).intValue, (1...PoolProtocol.maxInteger).contains(n) else {
                    return nil
                }
                attempt = n
            case "input":
                input = try p.parseValue(depth: depth)
            default:
                try p.skipValue(depth: depth)
            }
            let b = try p.peek()
            p.index += 1
            if b == UInt8(ascii: "}") { break }
            guard b == UInt8(ascii: ",") else { return nil }
        }
        guard let job, let attempt, let flow, let namespace, PoolNames.problem(namespace: namespace) == nil,
            let runId, PoolNames.problem(runId: runId) == nil
        else { return nil }
        return JobAssignment(job: job, attempt: attempt, flow: flow, namespace: namespace, runId: runId, input: input)
    }
}

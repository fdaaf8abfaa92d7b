import FlowCore
import Foundation
import Testing

@testable import FlowPool

@Suite("Wire JSON codec")
struct WireJSONTests {
    @Test(
        "round-trips values",
        arguments: [
            JSONValue.null, true, false, 0, -1, 42, .int(Int.max), .int(Int.min), 1.5, -0.25, 1e-7, 6.02e23, 12.0,
            "", "plain", "quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7}",
            "é 中文 😀", [], [1, "a", nil, [true]], [:], ["k": ["nested": [1, 2, 3]], "e": [:]],
        ] as [JSONValue]
    )
    func roundTrip(_ value: JSONValue) throws {
        let bytes = value.wireBytes
        let back = try JSONValue(wireBytes: bytes)
        #expect(back == value)
        // Foundation agrees that the text is valid JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil)
    }

    @Test("parses standard JSON written by Foundation")
    func foundationInterop() throws {
        let object: [String: Any] = ["a": [1, 2.5, "x", NSNull(), true], "b": ["c": "\u{1F600}\n"]]
        let data = try JSONSerialization.data(withJSONObject: object)
        let value = try JSONValue(wireBytes: Array(data))
        #expect(value["a"]?[1] == 2.5)
        #expect(value["a"]?[3] == .null)
        #expect(value["b"]?["c"] == "\u{1F600}\n")
    }

    @Test("decodes escapes and surrogate pairs")
    func escapes() throws {
        let v = try JSONValue(wireText: #""\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\""#)
        #expect(v == "é😀/\u{8}\u{c}\n\r\t\"\\")
    }

    @Test(
        "rejects hostile or malformed input with a code",
        arguments: [
            ("", JSONWireError.Code.unexpectedEnd),
            ("   ", .unexpectedEnd),
            ("{", .unexpectedEnd),
            ("[1,", .unexpectedEnd),
            ("[1,]", .unexpectedByte),
            ("{\"a\":1,}", .unexpectedByte),
            ("{\"a\" 1}", .unexpectedByte),
            ("{a:1}", .unexpectedByte),
            ("01", .badNumber),
            ("-", .badNumber),
            ("1.", .badNumber),
            ("1e", .badNumber),
            ("1e999", .badNumber),
            ("+1", .unexpectedByte),
            ("NaN", .unexpectedByte),
            ("tru", .unexpectedEnd),
            ("trux", .unexpectedByte),
            ("\"abc", .unexpectedEnd),
            ("\"a\u{1}b\"", .badString),
            ("\"\\x\"", .badString),
            ("\"\\ud800\"", .badString),
            ("\"\\udc00\"", .badString),
            ("\"\\u12G4\"", .badString),
            ("{\"a\":1,\"a\":2}", .duplicateKey),
            ("1 2", .trailingBytes),
            ("{} x", .trailingBytes),
            (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), .tooDeep),
            (String(repeating: "{\"a\":", count: 100) + "1" + String(repeating: "}", count: 100), .tooDeep),
        ]
    )
    func rejects(_ text: String, _ code: JSONWireError.Code) {
        #expect {
            _ = try JSONValue(wireText: text)
        } throws: { error in
            (error as? JSONWireError)?.code == code
        }
    }

    @Test("rejects invalid UTF-8 inside strings")
    func invalidUTF8() {
        for bad: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONWireError.self) { try JSONValue(wireBytes: bad) }
        }
    }

    @Test("random bytes never crash the parser")
    func fuzz() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("{}[]\",:0123456789-+.eEtrufalsn \\u\n".utf8) + [0x00, 0xFF, 0xC3]
        for _ in 0..<5000 {
            let n = Int.random(in: 0..<40, using: &rng)
            let bytes = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
            _ = try? JSONValue(wireBytes: bytes)
            _ = try? EnvelopeHeader.scan(topic: Array("a/b/c".utf8), envelope: bytes)
        }
    }
}

@Suite("Event envelopes")
struct WireEventTests {
    static let event = StreamEvent(
        namespace: "sales_agent",
        runId: "run-1",
        seq: 3,
        type: .chunk,
        node: "final_answer",
        timestamp: 1_764_042_442.125,
        content: ["text": "tok0 "]
    )

    @Test("encodes the documented envelope and decodes it back")
    func roundTrip() throws {
        let wire = WireEvent(event: Self.event, attempt: 2)
        #expect(String(decoding: wire.topicBytes, as: UTF8.self) == "sales_agent/run-1/chunk")
        let text = String(decoding: wire.envelopeBytes, as: UTF8.self)
        #expect(
            text
                == #"{"v":1,"ns":"sales_agent","run":"run-1","attempt":2,"seq":3,"type":"chunk","node":"final_answer","ts":1764042442.125,"content":{"text":"tok0 "}}"#
        )
        let back = try WireEvent.decode(topic: wire.topicBytes, envelope: wire.envelopeBytes)
        #expect(back == wire)
        let header = try EnvelopeHeader.scan(topic: wire.topicBytes, envelope: wire.envelopeBytes)
        #expect(header.attempt == 2 && header.seq == 3 && !header.isTerminal)
        #expect(header.runKey == "sales_agent/run-1")
    }

    @Test("ignores unknown envelope fields")
    func unknownFields() throws {
        let env =
            #"{"v":1,"extra":{"x":[1]},"ns":"n","run":"r","attempt":1,"seq":1,"type":"final","node":"f","ts":1,"content":null}"#
        let h = try EnvelopeHeader.scan(topic: Array("n/r/final".utf8), envelope: Array(env.utf8))
        #expect(h.isTerminal)
        let e = try WireEvent.decode(topic: Array("n/r/final".utf8), envelope: Array(env.utf8))
        #expect(e.event.content == .null)
    }

    @Test(
        "rejects bad envelopes",
        arguments: [
            (
                "n/r/chunk",
                #"{"v":2,"ns":"n","run":"r","attempt":1,"seq":1,"type":"chunk","node":"x","ts":1,"content":1}"#,
                JSONWireError.Code.unsupportedVersion
            ),
            (
                "n/r/chunk", #"{"ns":"n","run":"r","attempt":1,"seq":1,"type":"chunk","node":"x","ts":1,"content":1}"#,
                .badField
            ),
            (
                "n/r/chunk",
                #"{"v":1,"ns":"n","run":"r","attempt":0,"seq":1,"type":"chunk","node":"x","ts":1,"content":1}"#,
                .badField
            ),
            (
                "n/r/chunk",
                #"{"v":1,"ns":"n","run":"r","attempt":1,"seq":"1","type":"chunk","node":"x","ts":1,"content":1}"#,
                .badField
            ),
            (
                "n/r/chunk",
                #"{"v":1,"ns":"n","run":"OTHER","attempt":1,"seq":1,"type":"chunk","node":"x","ts":1,"content":1}"#,
                .badField
            ),
            (
                "n/r/chunk", #"{"v":1,"ns":"n","run":"r","attempt":1,"seq":1,"type":"chunk","node":"x","ts":1}"#,
                .badField
            ),
            (
                "n/r", #"{"v":1,"ns":"n","run":"r","attempt":1,"seq":1,"type":"chunk","node":"x","ts":1,"content":1}"#,
                .badField
            ),
            ("n//chunk", #"{}"#, .badField),
            ("n/r/chunk", #"{"v":1,"v":1}"#, .duplicateKey),
            ("n/r/chunk", #"[1]"#, .unexpectedByte),
        ]
    )
    func rejects(_ topic: String, _ envelope: String, _ code: JSONWireError.Code) {
        #expect {
            _ = try EnvelopeHeader.scan(topic: Array(topic.utf8), envelope: Array(envelope.utf8))
        } throws: { error in
            (error as? JSONWireError)?.code == code
        }
        #expect(throws: JSONWireError.self) {
            _ = try WireEvent.decode(topic: Array(topic.utf8), envelope: Array(envelope.utf8))
        }
    }
}

@Suite("Protocol messages")
struct ProtocolMessageTests {
    @Test("worker reports and commands round-trip")
    func workerMessages() throws {
        let terminal = RawEvent(topic: Array("n/r/final".utf8), envelope: Array("{}".utf8))
        let reports: [WorkerReport] = [
            .hello(WorkerHello(workerId: "w", host: "h", pid: 1, concurrency: 4, flows: ["agent4"])),
            .hello(
                WorkerHello(
                    workerId: "w",
                    host: "h",
                    pid: 1,
                    concurrency: 4,
                    flows: [],
                    batchJobs: true,
                    batchResults: true
                )
            ),
            .ready(credit: 3),
            .heartbeat(inFlight: 1, completed: 2, draining: true),
            .stalled(worker: "w-1", busyMilliseconds: 1250, credential: "772d31.00ff"),
            .ack([JobAttempt(job: "j1", attempt: 1)]),
            .ack([JobAttempt(job: "j1", attempt: 1), JobAttempt(job: "j2", attempt: 2)]),
            .result(
                WorkerResult(
                    job: "j",
                    attempt: 2,
                    status: .failed,
                    result: nil,
                    errorCode: .flowFailed,
                    errorMessage: "x",
                    terminal: terminal
                )
            ),
            .bye,
        ]
        for report in reports { #expect(try WorkerReport.decode(report.frames) == report) }
        let job = JobAssignment(job: "j", attempt: 1, flow: "agent4", namespace: "n", runId: "r", input: ["q": 1])
        let commands: [WorkerCommand] = [
            .job(job), .reregister, .drainAck, .error(code: .badRequest, message: "m"),
            .registered(batchResults: true, credential: "77.0a"), .registered(batchResults: false, credential: ""),
        ]
        for command in commands {
            #expect(try WorkerCommand.decode([command.frame]) == command)
        }
    }

    @Test("a results message round-trips: one JSON frame, then each result's terminal event in order")
    func resultsMessage() throws {
        let results = (1...3).map { i in
            WorkerResult(
                job: "j\(i)",
                attempt: i,
                status: i == 2 ? .failed : .completed,
                result: i == 2 ? nil : ["answer": .int(i)],
                errorCode: i == 2 ? .flowFailed : nil,
                errorMessage: i == 2 ? "boom \"quoted\"" : nil,
                terminal: RawEvent(topic: Array("n/r\(i)/final".utf8), envelope: Array("{\"seq\":\(i)}".utf8))
            )
        }
        let report = WorkerReport.results(WorkerResults(results))
        let frames = report.frames
        #expect(frames.count == 7)
        #expect(frames[3] == Array("n/r2/final".utf8) && frames[4] == Array("{\"seq\":2}".utf8))
        let json = try JSONValue(wireBytes: frames[0])
        #expect(json["op"]?.stringValue == "results" && json["results"]?.arrayValue?.count == 3)
        #expect(try WorkerReport.decode(frames) == report)
        #expect(WorkerResults.decodeDirect(frames) == WorkerResults(results), "the direct reader takes it")
        // A single result made from the same encoded element reads exactly as the result itself.
        let single = [WorkerResult.resultFrame(element: results[1].element), frames[3], frames[4]]
        #expect(try WorkerReport.decode(single) == .result(results[1]))
        #expect(single[0] == WorkerReport.result(results[1]).frames[0])
    }

    @Test("a bad element of results is set aside with its position; the others are read")
    func resultsBadElement() throws {
        let text = #"""
            {"v":1,"op":"results","results":[{"job":"a","attempt":1,"status":"completed","result":1},\#
            {"job":"b","attempt":0,"status":"completed"},7,{"job":"c","attempt":2,"status":"failed",\#
            "error":{"code":"flow_failed","message":"m"}}]}
            """#
        var frames = [Array(text.utf8)]
        for run in ["a", "b", "x", "c"] { frames += [Array("n/\(run)/final".utf8), Array("{}".utf8)] }
        guard case .results(let batch) = try WorkerReport.decode(frames) else {
            Issue.record("not a results message")
            return
        }
        #expect(batch.results.map(\.job) == ["a", "c"])
        #expect(batch.results[1].errorCode == .flowFailed && batch.results[1].terminal.topic == Array("n/c/final".utf8))
        #expect(batch.rejected.map(\.index) == [1, 2])
        #expect(batch.rejected.allSatisfy { $0.error.code == .badField })
        // What makes the whole message unusable is thrown: frames that do not match, no results.
        #expect(throws: JSONWireError.self) { try WorkerReport.decode(Array(frames.dropLast())) }
        #expect(throws: JSONWireError.self) {
            try WorkerReport.decode([Array(#"{"v":1,"op":"results","results":[]}"#.utf8)])
        }
        #expect(throws: JSONWireError.self) {
            try WorkerReport.decode([Array(#"{"v":1,"op":"results","results":{}}"#.utf8)])
        }
    }

    @Test("control requests round-trip and refuse what they must")
    func controlMessages() throws {
        let requests: [ControlRequest] = [
            .hello(id: "h"), .status(id: "s"), .getResult(id: "g", namespace: "n", runId: "r"),
            .submit(
                SubmitRequest(
                    id: "1",
                    flow: "agent4",
                    namespace: "n",
                    runId: "r",
                    input: ["question": "q"],
                    reply: false,
                    maxAttempts: 2
                )
            ),
            .replay(
                ReplayRequest(
                    id: "p",
                    pattern: "n",
                    ranges: [ReplayRange(namespace: "n", runId: "r", attempt: 1, fromSeq: 2, toSeq: 3)]
                )
            ),
        ]
        for request in requests { #expect(try ControlRequest.decode(request.frame) == request) }
        let batch = ControlRequest.submitBatch(
            id: "b",
            runs: [
                SubmitRequest(id: "1", flow: "agent4", namespace: "n", input: ["question": "q"]),
                SubmitRequest(id: "2", flow: "agent4", namespace: "n", runId: "r2", input: nil, maxAttempts: 1),
            ]
        )
        #expect(try ControlRequest.decode(batch.frame) == batch)
        let answers = ControlReply.acceptedBatch(
            id: "b",
            answers: [
                .accepted(id: "1", job: "j", namespace: "n", runId: "r"),
                .error(id: "2", code: .poolFull, message: "full"),
            ]
        )
        #expect(try ControlReply.decode(answers.frames) == answers)
        let results = [
            RunResult(
                id: "1",
                job: "j1",
                namespace: "n",
                runId: "r",
                status: .completed,
                attempts: 1,
                result: ["answer": "42 in stock", "n": 42]
            ),
            RunResult(
                id: "2",
                job: "j2",
                namespace: "n",
                runId: "r2",
                status: .failed,
                attempts: 3,
                result: nil,
                errorCode: .attemptsExhausted,
                errorMessage: "all 3 attempts were lost"
            ),
        ]
        for result in results {
            #expect(try ControlReply.decode(ControlReply.result(result).frames) == .result(result))
        }
        #expect(try ControlReply.decode(ControlReply.resultBatch(results).frames) == .resultBatch(results))
        #expect(throws: JSONWireError.self) {
            try ControlRequest.decode(Array(#"{"v":1,"op":"replay","id":"x"}"#.utf8))
        }
        #expect(throws: JSONWireError.self) {
            try WorkerReport.decode([Array(#"{"v":1,"op":"result","job":"j","attempt":1,"status":"completed"}"#.utf8)])
        }
    }

    @Test(
        "timestamps are written with microsecond precision and read back within half a microsecond",
        arguments: [
            (1_764_042_442.125031, "1764042442.125031"), (1_764_042_442.5, "1764042442.5"), (3.0, "3.0"),
            (0.000001, "0.000001"), (1_764_042_442.1234567, "1764042442.123457"),
        ]
    )
    func timestamps(value: Double, text: String) throws {
        var w = JSONWriter()
        w.timestamp(value)
        #expect(String(decoding: w.bytes, as: UTF8.self) == text)
        let back = try #require(try JSONValue(wireBytes: w.bytes).doubleValue)
        #expect(abs(back - value) <= 0.5e-6)
    }

    @Test("a timestamp out of the fast range is written as a plain number")
    func timestampFallback() throws {
        for value in [-1.5, 2e11, Double.infinity] {
            var w = JSONWriter()
            w.timestamp(value)
            var d = JSONWriter()
            d.double(value)
            #expect(w.bytes == d.bytes)
        }
    }

    @Test("a subscriber report round-trips; a missing subscriber name is a bad request")
    func subscriberReport() throws {
        let report = SubscriberReport(
            id: "r1",
            subscriber: "abc",
            pattern: "sales_agent",
            host: "h",
            pid: 7,
            received: 10,
            delivered: 9,
            gaps: 3,
            repaired: 2,
            lost: 1,
            bufferDrops: 4
        )
        #expect(try ControlRequest.decode(ControlRequest.subscriberReport(report).frame) == .subscriberReport(report))
        #expect(throws: JSONWireError.self) {
            try ControlRequest.decode(Array(#"{"v":1,"op":"subscriber_report","id":"x","pattern":"p"}"#.utf8))
        }
        #expect(try ControlReply.decode(ControlReply.ok(id: "r1").frames) == .ok(id: "r1"))
    }

    @Test("a jobs message round-trips; an empty or malformed one is rejected")
    func jobsMessage() throws {
        let jobs = (0..<3).map {
            JobAssignment(
                job: "j\($0)",
                attempt: 1,
                flow: "agent4",
                namespace: "ns",
                runId: "r\($0)",
                input: ["q": "x"]
            )
        }
        #expect(try WorkerCommand.decode([WorkerCommand.jobs(jobs).frame]) == .jobs(jobs))
        for bad in [#"{"v":1,"op":"jobs","jobs":[]}"#, #"{"v":1,"op":"jobs","jobs":[1]}"#, #"{"v":1,"op":"jobs"}"#] {
            #expect(throws: JSONWireError.self) { try WorkerCommand.decode([Array(bad.utf8)]) }
        }
    }
}

@Suite("Job decoding")
struct JobDecodingTests {
    @Test("what the coordinator writes is read directly, exactly as the general decoder reads it")
    func coordinatorFrames() throws {
        let jobs = (1...3).map {
            JobAssignment(
                job: "c-\($0)",
                attempt: $0,
                flow: "agent4",
                namespace: "sales_agent",
                runId: "r\($0)",
                input: $0 == 2 ? .null : ["question": "é \"q\"", "n": .int($0), "list": [1.5, true, nil]]
            )
        }
        for command in [WorkerCommand.job(jobs[0]), .job(jobs[1]), .jobs(jobs)] {
            let frame = command.frame
            let fast = try #require(frame.withUnsafeBytes { WorkerCommand.decodeJobs($0) })
            #expect(fast == command)
            #expect(try WorkerCommand.decodeGeneral(frame) == fast)
        }
    }

    @Test(
        "anything the direct reader does not take is left to the general decoder, which then decides",
        arguments: [
            #"{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n","run":"r","extra":{"a":[1]}}"#,
            #"{"v":1,"op":"job","job":"j","attempt":1.0,"flow":"f","ns":"n","run":"r"}"#,
            #"{"v":1,"op":"job","job":"j","attempt":0,"flow":"f","ns":"n","run":"r"}"#,
            #"{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n/x","run":"r"}"#,
            #"{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n"}"#,
            #"{"v":1,"op":"job","job":"j","job":"k","attempt":1,"flow":"f","ns":"n","run":"r"}"#,
            #"{"v":1,"op":"job","v":1,"job":"j","attempt":1,"flow":"f","ns":"n","run":"r"}"#,
            #"{"v":1,"op":"job","job":7,"attempt":1,"flow":"f","ns":"n","run":"r"}"#,
            #"{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n","run":"r"} x"#,
            #"{"v":1,"op":"jobs","jobs":[]}"#,
            #"{"v":1,"op":"jobs","jobs":[{"job":"j","attempt":1,"flow":"f","ns":"n","run":"r"}]}"#,
            #"{"v":1,"op":"jobs","jobs":[{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n","run":"r"}],"x":1}"#,
            #"{"v":1,"op":"jobs","jobs":[{"v":1,"op":"job","job":"j","attempt":1,"flow":"f","ns":"n","run":"r"},]}"#,
        ]
    )
    func sameAsGeneral(text: String) {
        let bytes = Array(text.utf8)
        let general = Result { () throws(JSONWireError) in try WorkerCommand.decodeGeneral(bytes) }
        guard let fast = bytes.withUnsafeBytes({ WorkerCommand.decodeJobs($0) }) else { return }
        #expect(general == .success(fast), "the direct reader took what the general decoder reads otherwise")
    }
}

@Suite("Result reply decoding")
struct ResultReplyDecodingTests {
    static let results = [
        RunResult(
            id: "c-1",
            job: "9jbbo-1",
            namespace: "sales_agent",
            runId: "r-1",
            status: .completed,
            attempts: 1,
            result: "tok0 tok1 "
        ),
        RunResult(
            id: "c-2",
            job: "9jbbo-2",
            namespace: "stock_agent",
            runId: "r \"2\" é",
            status: .failed,
            attempts: 3,
            result: nil,
            errorCode: .attemptsExhausted,
            errorMessage: "all 3 attempts were lost (last: \"x\")"
        ),
        RunResult(
            id: "",
            job: "9jbbo-3",
            namespace: "n",
            runId: "r-3",
            status: .completed,
            attempts: 1,
            result: ["answer": [1.5, true, nil, ["deep": ["a": [1]]]], "n": -4]
        ),
    ]

    @Test("what the coordinator writes is read directly, exactly as the general decoder reads it")
    func coordinatorFrames() throws {
        let replies =
            Self.results.map(ControlReply.result) + [
                .resultBatch(Self.results), .resultBatch([Self.results[0]]),
            ]
        for reply in replies {
            let frames = reply.frames
            let fast = try #require(frames[0].withUnsafeBytes { ControlReply.decodeResults($0) }, "\(reply)")
            #expect(fast == reply)
            #expect(try ControlReply.decodeGeneral(frames) == fast)
            #expect(try ControlReply.decode(frames) == reply)
        }
    }

    @Test(
        "anything the direct reader does not take is left to the general decoder, which then decides",
        arguments: [
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":1,"x":1}"#,
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"done","attempts":1}"#,
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":1.0}"#,
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":-1}"#,
            #"{"v":1,"op":"result","id":"c","id":"d","job":"j","ns":"n","run":"r","status":"failed","attempts":1}"#,
            #"{"v":1,"op":"result","v":1,"id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":1}"#,
            #"{"v":1,"op":"result","id":7,"job":"j","ns":"n","run":"r","status":"failed","attempts":1}"#,
            #"{"v":1,"op":"result","job":"j","ns":"n","run":"r","status":"failed","attempts":1}"#,
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":1} x"#,
            #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":1,"error":7}"#,
            #"{"v":1,"op":"results","id":"c","job":"j","ns":"n","run":"r","status":"failed","attempts":1}"#,
            #"{"v":1,"op":"result_batch","results":[]}"#,
            #"{"v":1,"op":"result_batch","results":[7]}"#,
            #"{"v":1,"op":"result_batch","results":[{}]}"#,
            #"{"v":1,"op":"result_batch","results":[{"v":2,"op":"x","id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":0}]}"#,
            #"{"v":1,"op":"result_batch","results":[{"id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":1},]}"#,
            #"{"v":1,"op":"result_batch","results":[{"id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":1}],"x":1}"#,
        ]
    )
    func sameAsGeneral(text: String) {
        let bytes = Array(text.utf8)
        let general = Result { () throws(JSONWireError) in try ControlReply.decodeGeneral([bytes]) }
        guard let fast = bytes.withUnsafeBytes({ ControlReply.decodeResults($0) }) else { return }
        #expect(general == .success(fast), "the direct reader took what the general decoder reads otherwise")
    }
}

@Suite("Worker results decoding")
struct WorkerResultsDecodingTests {
    /// The frames of a `results` message with `text` as its first frame and `terminals` terminal events.
    static func frames(_ text: String, terminals: Int) -> [[UInt8]] {
        [Array(text.utf8)] + (0..<terminals).flatMap { i in [Array("n/r\(i)/final".utf8), Array("{}".utf8)] }
    }

    @Test(
        "anything the direct reader does not take is left to the general decoder, which then decides",
        arguments: [
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed","result":"a"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed"}]}"#, 2),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed"}]}"#, 0),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed","x":1}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":0,"status":"completed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1.0,"status":"completed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":-1,"status":"completed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"done"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":7,"attempt":1,"status":"failed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"attempt":1,"status":"failed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","job":"k","attempt":1,"status":"failed"}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"failed","error":7}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"failed","error":{"code":"c"}}]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"failed"},]}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"failed"}],"x":1}"#, 1),
            (#"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"failed"}]} x"#, 1),
            (#"{"v":1,"op":"results","results":[]}"#, 0),
            (#"{"v":1,"op":"results","results":[7]}"#, 1),
            (
                #"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed"},{"job":"k","attempt":2,"status":"failed"}]}"#,
                2
            ),
        ]
    )
    func sameAsGeneral(text: String, terminals: Int) {
        let frames = Self.frames(text, terminals: terminals)
        let general = Result { () throws(JSONWireError) in try WorkerReport.decodeGeneral(frames, first: frames[0]) }
        guard let fast = WorkerResults.decodeDirect(frames) else { return }
        #expect(general == .success(.results(fast)), "the direct reader took what the general decoder reads otherwise")
    }

    @Test("the direct reader takes the results workers write, deeply nested values only where the general one does")
    func nesting() {
        for levels in 58...66 {
            let value = DirectReaderDepthTests.nested(levels)
            let text =
                #"{"v":1,"op":"results","results":[{"job":"j","attempt":1,"status":"completed","result":\#(value)}]}"#
            let frames = Self.frames(text, terminals: 1)
            guard let fast = WorkerResults.decodeDirect(frames) else { continue }
            let general = Result { () throws(JSONWireError) in try WorkerReport.decodeGeneral(frames, first: frames[0])
            }
            #expect(general == .success(.results(fast)), "\(levels) levels")
        }
        let written = WorkerReport.results(
            WorkerResults([
                WorkerResult(
                    job: "j",
                    attempt: 2,
                    status: .failed,
                    result: nil,
                    errorCode: .flowFailed,
                    errorMessage: "m",
                    terminal: RawEvent(topic: Array("n/r/final".utf8), envelope: Array("{}".utf8))
                )
            ])
        )
        #expect(WorkerResults.decodeDirect(written.frames).map(WorkerReport.results) == written)
    }
}

@Suite("Worker ack and ready decoding")
struct WorkerAckDecodingTests {
    @Test(
        "what the direct reader takes, the general decoder reads the same; the rest is left to it",
        arguments: [
            #"{"v":1,"op":"ready","credit":3}"#,
            #"{"v":1,"op":"ready","credit":0}"#,
            #"{"v":1,"op":"ready","credit":-2}"#,
            #"{"v":1,"op":"ready","credit":2.0}"#,
            #"{"v":1,"op":"ready","credit":99999999999999999999}"#,
            #"{"v":1,"op":"ready","credit":3,"x":1}"#,
            #"{"v":1,"op":"ready","credit":3} x"#,
            #"{"v":1,"op":"ready","credit":"3"}"#,
            #"{"v":1,"op":"ack","job":"j-1","attempt":2}"#,
            #"{"v":1,"op":"ack","job":"j\u0031","attempt":1}"#,
            #"{"v":1,"op":"ack","job":"j-1","attempt":0}"#,
            #"{"v":1,"op":"ack","job":7,"attempt":1}"#,
            #"{"v":1,"op":"ack","attempt":1,"job":"j"}"#,
            #"{"v":1,"op":"ack","job":"j","attempt":1,"x":[]}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a","attempt":1},{"job":"b","attempt":3}]}"#,
            #"{"v":1,"op":"ack","jobs":[ {"job":"a","attempt":1} , {"job":"b","attempt":3} ] }"#,
            #"{"v":1,"op":"ack","jobs":[]}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a","attempt":1},]}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a","attempt":1,"x":1}]}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a"}]}"#,
            #"{"v":1,"op":"ack","jobs":[7]}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a","attempt":1}],"job":"b","attempt":1}"#,
            #"{"v":1,"op":"ack","jobs":[{"job":"a","attempt":1}]"#,
            #"{"v":10,"op":"ready","credit":3}"#,
        ]
    )
    func sameAsGeneral(text: String) {
        let frames = [Array(text.utf8)]
        let general = Result { () throws(JSONWireError) in try WorkerReport.decodeGeneral(frames, first: frames[0]) }
        guard let fast = WorkerReport.decodeDirectAckOrReady(frames) else { return }
        #expect(general == .success(fast), "the direct reader took what the general decoder reads otherwise")
    }

    @Test("the acks and credit workers write are read directly, exactly")
    func workersForms() {
        let reports: [WorkerReport] = [
            .ready(credit: 1),
            .ready(credit: 256),
            .ack([JobAttempt(job: "9jbbo-17", attempt: 1)]),
            .ack((1...300).map { JobAttempt(job: "9jbbo-\($0)", attempt: 1 + $0 % 3) }),
            .ack([JobAttempt(job: "quote\"back\\slash\u{1}", attempt: 4)]),
        ]
        for report in reports {
            #expect(WorkerReport.decodeDirectAckOrReady(report.frames) == report)
            #expect((try? WorkerReport.decode(report.frames)) == report)
        }
        let twoFrames = [Array(#"{"v":1,"op":"ack","job":"j","attempt":1}"#.utf8), []]
        #expect(WorkerReport.decodeDirectAckOrReady(twoFrames) == nil, "an ack is one frame")
    }
}

@Suite("Accepted batch decoding")
struct AcceptedBatchDecodingTests {
    @Test("the coordinator's accepted_batch is read directly, as the general decoder reads it")
    func roundTrip() throws {
        let replies: [ControlReply] = [
            .acceptedBatch(
                id: "b-1",
                answers: [
                    .accepted(id: "c-1", job: "9jbbo-1", namespace: "sales_agent", runId: "r-1"),
                    .error(id: "c-2", code: .poolFull, message: "the pool is full: \"10000\" jobs wait"),
                    .error(id: nil, code: .poolFull, message: "the pool is full"),
                    .accepted(id: "c-é", job: "9jbbo-2", namespace: "stock_agent", runId: "r \"2\" é"),
                ]
            ),
            .acceptedBatch(id: "b-2", answers: [.accepted(id: "", job: "j", namespace: "n", runId: "r")]),
        ]
        for reply in replies {
            let frames = reply.frames
            let fast = try #require(frames[0].withUnsafeBytes { ControlReply.decodeAcceptedBatch($0) }, "\(reply)")
            #expect(fast == reply)
            #expect(try ControlReply.decodeGeneral(frames) == fast)
            #expect(try ControlReply.decode(frames) == reply)
        }
    }

    @Test(
        "anything the direct reader does not take is left to the general decoder, which then decides",
        arguments: [
            #"{"v":1,"op":"accepted_batch","id":"b","items":[]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[7]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{}]}"#,
            #"{"v":1,"op":"accepted_batch","id":7,"items":[{"id":"c","job":"j","ns":"n","run":"r"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","id":"d","job":"j","ns":"n","run":"r"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n","run":"r","x":1}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":null,"job":"j","ns":"n","run":"r"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n","run":7}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","code":null,"job":"j","ns":"n","run":"r"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","code":"pool_full"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":nul,"code":"pool_full","message":"m"}]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n","run":"r"},]}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n","run":"r"}],"x":1}"#,
            #"{"v":1,"op":"accepted_batch","id":"b","items":[{"id":"c","job":"j","ns":"n","run":"r"}]} x"#,
            #"{"v":1,"op":"accepted_batch","items":[{"id":"c","job":"j","ns":"n","run":"r"}],"id":"b"}"#,
        ]
    )
    func sameAsGeneral(text: String) {
        let bytes = Array(text.utf8)
        let general = Result { () throws(JSONWireError) in try ControlReply.decodeGeneral([bytes]) }
        guard let fast = bytes.withUnsafeBytes({ ControlReply.decodeAcceptedBatch($0) }) else { return }
        #expect(general == .success(fast), "the direct reader took what the general decoder reads otherwise")
    }
}

@Suite("Direct readers at the nesting limit")
struct DirectReaderDepthTests {
    /// A JSON value nested `levels` arrays deep.
    static func nested(_ levels: Int) -> String {
        String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
    }

    @Test("a direct reader takes a deeply nested value only where the general decoder takes it too")
    func sameLimit() {
        for levels in 58...66 {
            let value = Self.nested(levels)
            let submits = [
                #"{"v":1,"op":"submit","id":"s","flow":"f","ns":"n","input":\#(value)}"#,
                #"{"v":1,"op":"submit_batch","id":"b","runs":[{"id":"c","flow":"f","ns":"n","input":\#(value)}]}"#,
            ]
            for text in submits {
                let bytes = Array(text.utf8)
                guard let fast = bytes.withUnsafeBytes({ ControlRequest.decodeSubmit($0) }) else { continue }
                let general = Result { () throws(JSONWireError) in try ControlRequest.decodeGeneral(bytes) }
                #expect(general == .success(fast), "\(levels) levels: \(text.prefix(40))")
            }
            let results = [
                #"{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":1,"result":\#(value)}"#,
                #"{"v":1,"op":"result_batch","results":[{"v":1,"op":"result","id":"c","job":"j","ns":"n","run":"r","status":"completed","attempts":1,"result":\#(value)}]}"#,
            ]
            for text in results {
                let bytes = Array(text.utf8)
                guard let fast = bytes.withUnsafeBytes({ ControlReply.decodeResults($0) }) else { continue }
                let general = Result { () throws(JSONWireError) in try ControlReply.decodeGeneral([bytes]) }
                #expect(general == .success(fast), "\(levels) levels: \(text.prefix(40))")
            }
        }
    }
}

@Suite("Submit decoding")
struct SubmitDecodingTests {
    /// Decodes `text` both ways: the direct submit reader (nil when it leaves the message to the general one)
    /// and the general decoder.
    func both(_ text: String) -> (fast: ControlRequest?, general: Result<ControlRequest, JSONWireError>) {
        let bytes = Array(text.utf8)
        let fast = bytes.withUnsafeBytes { ControlRequest.decodeSubmit($0) }
        let general = Result { () throws(JSONWireError) -> ControlRequest in try ControlRequest.decodeGeneral(bytes) }
        return (fast, general)
    }

    @Test("what clients write is read directly, exactly as the general decoder reads it")
    func directEqualsGeneral() throws {
        let batch = ControlRequest.submitBatch(
            id: "b1",
            runs: [
                SubmitRequest(id: "c-1", flow: "agent4", namespace: "sales_agent", input: ["question": "part 42?"]),
                SubmitRequest(
                    id: "c-2",
                    flow: "agent4",
                    namespace: "stock_agent",
                    runId: "r-2",
                    input: ["n": 2, "list": [1, "two", nil, ["deep": true]]],
                    reply: false,
                    maxAttempts: 5,
                    requireWorker: true
                ),
            ]
        )
        let single = ControlRequest.submit(
            SubmitRequest(
                id: "s-1",
                flow: "sleep",
                namespace: "ns",
                runId: "x",
                input: ["ms": 0],
                maxAttempts: 1,
                deadlineMilliseconds: 500,
                requireWorker: true
            )
        )
        for request in [batch, single] {
            let (fast, general) = both(String(decoding: request.frame, as: UTF8.self))
            #expect(fast == request)
            #expect(try general.get() == request)
            #expect(try ControlRequest.decode(request.frame) == request)
        }
        // Unknown members are ignored by both; null optional members mean "absent".
        let extra =
            #"{"v":1,"op":"submit","id":"e","flow":"f","ns":"n","run":null,"max_attempts":null,"x":[1,{"y":2}]}"#
        let (fast, general) = both(extra)
        #expect(fast != nil && fast == (try? general.get()))
    }

    @Test(
        "anything the direct reader would refuse goes to the general decoder, which says why",
        arguments: [
            #"{"v":1,"op":"submit","id":"a","ns":"n"}"#,  // no flow
            #"{"v":1,"op":"submit","id":"a","flow":"","ns":"n"}"#,  // empty flow
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"bad/ns"}"#,  // bad namespace
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","run":"a b"}"#,  // bad run id
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","max_attempts":0}"#,
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","reply":"yes"}"#,
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","require_worker":1}"#,
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","flow":"g"}"#,  // duplicate member
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n","id":"b"}"#,  // duplicate id
            #"{"v":1,"op":"submit_batch","id":"b","runs":[]}"#,
            #"{"v":1,"op":"submit_batch","id":"b","runs":[{"id":"c","flow":"f"}]}"#,  // run without ns
            #"{"v":1,"op":"submit_batch","id":"b","runs":[{"id":"c","flow":"f","ns":"n"}]"#,  // truncated
            #"{"v":1,"op":"submit","id":"a","flow":"f","ns":"n"} x"#,  // trailing bytes
            #"{"v":2,"op":"submit","id":"a","flow":"f","ns":"n"}"#,  // other version
        ]
    )
    func refusedGoesToGeneral(text: String) {
        let (fast, general) = both(text)
        #expect(fast == nil)
        #expect(throws: JSONWireError.self) { try general.get() }
        #expect(throws: JSONWireError.self) { try ControlRequest.decode(Array(text.utf8)) }
    }

    @Test("members in another order are read by the general decoder")
    func otherOrder() throws {
        let text = #"{"op":"submit","v":1,"flow":"f","ns":"n","id":"z"}"#
        let (fast, _) = both(text)
        #expect(fast == nil)
        let decoded = try ControlRequest.decode(Array(text.utf8))
        #expect(decoded == .submit(SubmitRequest(id: "z", flow: "f", namespace: "n", input: nil)))
    }
}

@Suite("Topic validation")
struct TopicPartsTests {
    /// The byte-by-byte reading the coordinator used before it looked for the slashes with `memchr`: what it
    /// accepted (slash positions, whether a name needs escaping) or the error it threw.
    static func oracle(_ t: [UInt8]) -> Result<[Int], JSONWireError> {
        guard t.count <= PoolNames.maxTopicBytes else {
            return .failure(JSONWireError(.badField, "topic longer than \(PoolNames.maxTopicBytes) bytes"))
        }
        var first = -1
        var second = -1
        var extra = false
        var ascii = true
        var escaping = false
        for (i, b) in t.enumerated() {
            if b == UInt8(ascii: "/") {
                if first < 0 {
                    first = i
                } else if second < 0 {
                    second = i
                } else {
                    extra = true
                    break
                }
            } else if b <= 0x20 || b == 0x7F || (b == UInt8(ascii: "*") && second < 0) {
                return .failure(JSONWireError(.badField, "topic contains a space, control character or '*' in a name"))
            } else if b >= 0x80 {
                ascii = false
            } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                escaping = true
            }
        }
        guard !extra, first > 0, second > first + 1, second < t.count - 1 else {
            return .failure(JSONWireError(.badField, "topic must be <namespace>/<runId>/<type>"))
        }
        guard first <= PoolNames.maxNameBytes, second - first - 1 <= PoolNames.maxNameBytes else {
            return .failure(
                JSONWireError(.badField, "namespace or run id longer than \(PoolNames.maxNameBytes) bytes")
            )
        }
        if !ascii && String(validating: t, as: UTF8.self) == nil {
            return .failure(JSONWireError(.badField, "topic is not valid UTF-8"))
        }
        return .success([first, second, escaping ? 1 : 0])
    }

    static func parts(_ t: [UInt8]) -> Result<[Int], JSONWireError> {
        t.withUnsafeBytes { bytes in
            Result { () throws(JSONWireError) -> [Int] in
                let p = try EnvelopeHeader.TopicParts(bytes)
                #expect(p.count == t.count)
                return [p.firstSlash, p.secondSlash, p.needsEscaping ? 1 : 0]
            }
        }
    }

    @Test("accepts and rejects exactly what a byte-by-byte reading does, with the same errors")
    func sameAsByteByByte() {
        let fixed: [String] = [
            "sales_agent/r-1/chunk", "n/r/final", "n/r/*", "n/r/a*b", "n*/r/x", "n/r*/x", "n/r", "n//x", "/r/x",
            "n/r/", "n/r/x/y", "n/r/x/ y", "n /r/x", "n/r/x y", "n\u{7F}/r/x", "é/r/x", "n/\"r\"/x", "n/r/\\",
            "n/r/x/*", "*", "", "///", "n/r/x\u{1}", String(repeating: "a", count: 129) + "/r/x",
            "n/" + String(repeating: "b", count: 129) + "/x", String(repeating: "c", count: 128) + "/r/x",
        ]
        var cases = fixed.map { Array($0.utf8) }
        cases.append([UInt8(ascii: "n"), 0xC3, UInt8(ascii: "/"), UInt8(ascii: "r"), UInt8(ascii: "/"), 0x41])
        cases.append([0xFF, UInt8(ascii: "/"), UInt8(ascii: "r"), UInt8(ascii: "/"), 0x41])
        cases.append(Array(repeating: UInt8(ascii: "x"), count: PoolNames.maxTopicBytes + 1))
        // And random topics over an alphabet heavy in what the reading cares about.
        let alphabet: [UInt8] =
            Array("ab/*\"\\ .-_".utf8) + [0x00, 0x09, 0x7F, 0x80, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xFF]
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            let length = Int(rng.next() % 24)
            cases.append((0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        for t in cases {
            let expected = Self.oracle(t)
            let got = Self.parts(t)
            #expect(got == expected, "\(t)")
        }
        #expect(cases.contains { if case .success = Self.oracle($0) { true } else { false } })
    }
}

/// A small deterministic generator, so that a failing case can be reproduced.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Byte comparison")
struct ByteComparisonTests {
    @Test("equal bytes compare equal and a difference at any position is found, at every length up to 40")
    func everyLengthAndPosition() {
        for n in 0...40 {
            let a = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            // Compared at an odd offset inside larger buffers, so that the loads are unaligned.
            let padded = [0x55] + a + [0xAA]
            padded.withUnsafeBytes { p in
                let x = UnsafeRawBufferPointer(rebasing: p[1..<(1 + n)])
                let same = a.withUnsafeBytes { x.hasSameBytes(as: $0) }
                #expect(same, "length \(n)")
                for i in 0..<n {
                    var b = a
                    b[i] ^= 0x01
                    let differs = b.withUnsafeBytes { !x.hasSameBytes(as: $0) }
                    #expect(differs, "length \(n), byte \(i)")
                }
                let longer = (a + [0]).withUnsafeBytes { !x.hasSameBytes(as: $0) }
                #expect(longer, "length \(n) against \(n + 1)")
            }
        }
    }
}

import FlowCore
import Testing

@testable import FlowPool

/// Results pushed to clients that take them in batches are packed per client into `result_batch` messages.
@Suite("Result batches")
struct ResultBatcherTests {
    func result(_ n: Int, failed: Bool = false) -> RunResult {
        RunResult(
            id: "c-\(n)",
            job: "j-\(n)",
            namespace: "sales_agent",
            runId: "r\(n)",
            status: failed ? .failed : .completed,
            attempts: 1 + n % 3,
            result: failed ? .null : ["answer": .string("tok \"\(n)\"\n"), "n": .int(n)],
            errorCode: failed ? .flowFailed : nil,
            errorMessage: failed ? "boom \(n)" : nil
        )
    }

    func decoded(_ frame: [UInt8]) throws -> [RunResult] {
        guard case .resultBatch(let results) = try ControlReply.decode([frame]) else {
            Issue.record("not a result_batch: \(String(decoding: frame, as: UTF8.self))")
            return []
        }
        return results
    }

    @Test("each client gets its own results in order, decoded exactly as sent; others are not held")
    func perClient() throws {
        var b = ResultBatcher()
        let c1: [UInt8] = Array("c1".utf8)
        let c2: [UInt8] = Array("c2".utf8)
        b.add(c1)
        b.add(c2)
        let plain = b.hold(result(0), for: Array("plain".utf8))
        #expect(!plain, "a client that did not ask for batches")
        for n in 1...9 {
            let held = b.hold(result(n, failed: n % 4 == 0), for: n % 2 == 0 ? c2 : c1)
            #expect(held)
        }
        let messages = b.take()
        #expect(messages.count == 2)
        for (client, frame) in messages {
            let expected = (1...9).filter { ($0 % 2 == 0) == (client == c2) }.map { result($0, failed: $0 % 4 == 0) }
            #expect(try decoded(frame) == expected)
        }
        let rest = b.take()
        #expect(rest.isEmpty, "taking empties the holding area")
        // The next round starts fresh messages.
        let held = b.hold(result(10), for: c1)
        #expect(held)
        let next = b.take()
        #expect(next.count == 1 && next[0].0 == c1)
        #expect(try decoded(next[0].1) == [result(10)])
    }

    @Test("a round with more results than one message holds is split, nothing lost or repeated")
    func splitsLargeRounds() throws {
        var b = ResultBatcher()
        let c: [UInt8] = Array("c".utf8)
        b.add(c)
        let count = 2 * ResultBatcher.maxResults + 7
        var held = 0
        for n in 0..<count where b.hold(result(n), for: c) { held += 1 }
        #expect(held == count)
        let batches = try b.take().map { try decoded($0.1) }
        #expect(batches.map(\.count) == [ResultBatcher.maxResults, ResultBatcher.maxResults, 7])
        #expect(batches.flatMap { $0 } == (0..<count).map { result($0) })
    }
}

import Testing

@testable import FlowAgents

@Suite struct ServerSentEventParserTests {
    @Test func parsesEventsSplitAnywhereWithCRLFCommentsAndMultilineData() throws {
        let body = ": keep-alive\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\n\n"
        var parser = ServerSentEventParser()
        var payloads: [String] = []
        for byte in Array(body.utf8) {
            payloads += try parser.feed([byte])
        }
        #expect(payloads == ["{\"a\":1}", "line1\nline2", "[DONE]"])
        #expect(parser.finish() == nil)
    }

    @Test func unterminatedLastEventIsReturnedAtTheEnd() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array("data: tail".utf8)).isEmpty)
        #expect(parser.finish() == "tail")
    }

    @Test func overlongLinesAreRejected() {
        var parser = ServerSentEventParser(maxLineLength: 8)
        #expect(throws: LLMError.self) { try parser.feed(Array("data: 0123456789".utf8)) }
    }

    @Test func assemblerHoldsTheFinishUntilDone() throws {
        var assembler = ChatChunkAssembler()
        let text = try assembler.consume(#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#)
        #expect(text == [.text("Hi")])
        #expect(!assembler.isDone)
        #expect(try assembler.consume("[DONE]") == [.finish(.stop)])
        #expect(throws: LLMError.self) { try assembler.consume(#"{"error": {"message": "overloaded"}}"#) }
    }
}

import FlowAgents
import FlowCore
import Testing

@Suite struct ToolSchemaTests {
    let schema = ToolSchema([
        ToolParameter("symbol", .string, "Ticker", required: true, allowedValues: ["AAPL", "MSFT"]),
        ToolParameter("window", .integer, "Window", minimum: 2, maximum: 250),
        ToolParameter("ratio", .number, "Ratio", minimum: 0, maximum: 1),
        ToolParameter("date", .date, "Day"),
        ToolParameter("flag", .boolean, "Flag"),
        ToolParameter("note", .string, "Note", maxLength: 10),
    ])

    private func message(_ arguments: JSONValue) -> String? {
        do {
            _ = try schema.validate(arguments, tool: "t")
            return nil
        } catch {
            #expect(error.code == .invalidArguments)
            return error.message
        }
    }

    @Test func acceptsAndNormalisesValidArguments() throws {
        let arguments = try schema.validate(
            ["symbol": "aapl", "window": 20.0, "ratio": 1, "date": "2024-02-29", "flag": true],
            tool: "t"
        )
        #expect(arguments.string("symbol") == "AAPL")
        #expect(arguments.int("window") == 20)
        #expect(arguments.double("ratio") == 1.0)
        #expect(arguments.string("date") == "2024-02-29")
        #expect(arguments.bool("flag") == true)
        #expect(arguments.values["note"] == nil)
    }

    @Test(
        arguments: [
            (JSONValue.array([]), "must be a JSON object"),
            (["window": 5], "missing required parameter 'symbol'"),
            (["symbol": "AAPL", "limit": 5], "unknown parameter 'limit'; expected one of: symbol, window"),
            (["symbol": "XYZ"], "must be one of: AAPL, MSFT; got 'XYZ'"),
            (["symbol": "AAPL'; DROP TABLE orders; --"], "must be one of: AAPL, MSFT"),
            (["symbol": 7], "'symbol' must be a string, got an integer"),
            (["symbol": "AAPL", "window": 1], "'window' must be at least 2, got 1"),
            (["symbol": "AAPL", "window": 1_000_000_000], "'window' must be at most 250"),
            (["symbol": "AAPL", "window": 2.5], "'window' must be an integer, got a number"),
            (["symbol": "AAPL", "window": "20"], "'window' must be an integer, got a string"),
            (["symbol": "AAPL", "ratio": 1.5], "'ratio' must be at most 1"),
            (["symbol": "AAPL", "date": "2024-02-30"], "'date' must be a date as YYYY-MM-DD"),
            (["symbol": "AAPL", "date": "yesterday"], "'date' must be a date as YYYY-MM-DD"),
            (["symbol": "AAPL", "flag": "yes"], "'flag' must be true or false"),
            (["symbol": "AAPL", "note": "far too long a note"], "'note' is too long (19 characters, at most 10)"),
        ] as [(JSONValue, String)]
    )
    func rejectsBadArgumentsSayingWhatIsExpected(arguments: JSONValue, expected: String) {
        let text = message(arguments)
        #expect(text?.contains(expected) == true, "\(text ?? "accepted")")
    }

    @Test func jsonSchemaDeclaresTypesRequiredEnumsAndRanges() {
        let json = schema.jsonSchema
        #expect(json["type"] == "object")
        #expect(json["required"] == ["symbol"])
        #expect(json["additionalProperties"] == false)
        #expect(json["properties"]?["symbol"]?["enum"] == ["AAPL", "MSFT"])
        #expect(json["properties"]?["window"]?["type"] == "integer")
        #expect(json["properties"]?["window"]?["minimum"] == 2)
        #expect(json["properties"]?["window"]?["maximum"] == 250)
        #expect(json["properties"]?["date"]?["format"] == "date")
    }
}

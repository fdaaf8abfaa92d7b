import FlowCore
import Foundation
import Testing

struct JSONValueTests {
    @Test func literalsRoundTripThroughCodable() throws {
        let value: JSONValue = [
            "s": "text", "i": 42, "d": 1.5, "b": true, "n": nil,
            "a": [1, "two", ["three": 3]],
        ]
        let data = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(decoded == value)
        #expect(decoded["a"]?[2]?["three"]?.intValue == 3)
        #expect(decoded["s"]?.stringValue == "text")
        #expect(decoded["d"]?.doubleValue == 1.5)
        #expect(decoded["n"]?.isNull == true)
        #expect(decoded["missing"] == nil)
    }

    @Test func decodesIntegersAsIntegers() throws {
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"[7, 7.25, -3]"#.utf8))
        #expect(decoded == [.int(7), .double(7.25), .int(-3)])
    }
}

struct JSONValueDescriptionTests {
    @Test func descriptionIsCompactJSONWithSortedKeys() throws {
        let value: JSONValue = ["b": [1, 2.5, nil, true], "a": "line\n\"q\"\u{1}"]
        #expect(value.description == #"{"a":"line\n\"q\"\u0001","b":[1,2.5,null,true]}"#)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(value.description.utf8))
        #expect(decoded == value)
    }
}

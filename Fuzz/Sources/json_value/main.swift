import FlowCore
import FuzzKit

@testable import FlowPool

/// The strict JSON parser: `JSONValue(wireBytes:)` on the whole input, from an array and from a collection
/// without contiguous storage; what the writer makes of a parsed value parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONValue(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzInput(data, count: count).bytes
    let parsed = try? JSONValue(wireBytes: bytes)
    let copied = try? JSONValue(wireBytes: bytes.lazy.map { $0 })
    FuzzCheck.same(parsed, copied, "JSONValue(wireBytes:) from an array and from a lazy collection")
    guard let parsed else { return 0 }
    let written = parsed.wireBytes
    let again = Result { try JSONValue(wireBytes: written) }
    guard let reread = try? again.get() else {
        fatalError("the writer's text for \(parsed) does not parse: \(again)")
    }
    FuzzCheck.require(reread == parsed, "\(parsed) writes as \(parsed.wireText), read back as \(reread)")
    return 0
}

import FlowCore
import FuzzKit

@testable import FlowPool

/// Packed event batches: `EventBatch.forEach` and `EventBatch.unpack` on the whole input as a batch body. Both
/// reject the same bodies, `forEach` passes nothing on from a body it rejects, and the events of a body
/// packed again give the same bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventBatch(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let body = FuzzInput(data, count: count).bytes
    var passed: [RawEvent] = []
    let walked = body.withUnsafeBytes { packed in
        Result { () throws(JSONWireError) in
            try EventBatch.forEach(in: packed) { topic, envelope in
                passed.append(RawEvent(topic: Array(topic), envelope: Array(envelope)))
            }
        }
    }
    let unpacked = Result { try EventBatch.unpack(body) }
    switch (walked, unpacked) {
    case (.success, .success(let events)):
        FuzzCheck.require(events == passed, "EventBatch.unpack and EventBatch.forEach read different events")
        var packed: [UInt8] = []
        for event in events { EventBatch.append(event, to: &packed) }
        FuzzCheck.require(packed == body, "\(events.count) unpacked events pack into other bytes")
    case (.failure, .failure):
        FuzzCheck.require(passed.isEmpty, "EventBatch.forEach passed on \(passed.count) events of a rejected body")
    default:
        fatalError("EventBatch.forEach gave \(walked), EventBatch.unpack \(unpacked)")
    }
    return 0
}

import FlowCore
import FuzzKit

@testable import FlowPool

/// Client-side event decoding: `WireEvent.decode` on a topic and an envelope (the first two frames), from
/// arrays and from collections without contiguous storage; a decoded event written again reads back the same
/// (its timestamp to the microsecond the writer keeps).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireEvent(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frames = FuzzInput(data, count: count).frames
    let topic = frames.first ?? []
    let envelope = frames.count > 1 ? frames[1] : []
    let decoded = try? WireEvent.decode(topic: topic, envelope: envelope)
    let copied = try? WireEvent.decode(topic: topic.lazy.map { $0 }, envelope: envelope.lazy.map { $0 })
    FuzzCheck.same(decoded, copied, "WireEvent.decode from arrays and from lazy collections")
    guard let decoded else { return 0 }
    let again = Result { try WireEvent.decode(topic: decoded.topicBytes, envelope: decoded.envelopeBytes) }
    guard var reread = try? again.get() else {
        fatalError("the frames written for \(decoded) do not decode: \(again)")
    }
    let drift = abs(reread.event.timestamp - decoded.event.timestamp)
    FuzzCheck.require(
        drift <= 1e-6 || drift <= abs(decoded.event.timestamp) * 1e-15,
        "timestamp \(decoded.event.timestamp) reads back as \(reread.event.timestamp)"
    )
    reread.event.timestamp = decoded.event.timestamp
    FuzzCheck.require(reread == decoded, "\(decoded) reads back as \(reread)")
    return 0
}

import FlowCore
import FuzzKit

@testable import FlowPool

/// The coordinator's per-event check: `EnvelopeHeader.scan` on a topic and an envelope (the first two frames).
/// An event the coordinator accepts, and so forwards, must be one a client decodes to the same header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelopeHeader(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frames = FuzzInput(data, count: count).frames
    let topic = frames.first ?? []
    let envelope = frames.count > 1 ? frames[1] : []
    guard let header = try? EnvelopeHeader.scan(topic: topic, envelope: envelope) else { return 0 }
    let decoded = Result { try WireEvent.decode(topic: topic, envelope: envelope) }
    guard let wire = try? decoded.get() else {
        fatalError("EnvelopeHeader.scan accepted \(header), WireEvent.decode did not: \(decoded)")
    }
    let event = wire.event
    let terminal: Set<EventType> = [.final, .error, .cancelled]
    FuzzCheck.require(
        header.runKey == "\(event.namespace)/\(event.runId)" && header.attempt == wire.attempt
            && header.seq == Int(event.seq) && header.isTerminal == terminal.contains(event.type),
        "EnvelopeHeader.scan read \(header), WireEvent.decode \(wire)"
    )
    return 0
}

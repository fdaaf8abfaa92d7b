import FlowCore
import FuzzKit

@testable import FlowPool

/// Replies a client receives: `ControlReply.decode` on 1–N frames, the direct `result`/`result_batch` and
/// `accepted_batch` readers against the general one, and the reply encoder's output read back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlReply(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frames = FuzzInput(data, count: count).frames
    let decoded = try? ControlReply.decode(frames)
    if frames.count == 1 {
        FuzzCheck.agree(
            direct: frames[0].withUnsafeBytes { ControlReply.decodeResults($0) },
            general: { try ControlReply.decodeGeneral(frames) },
            "ControlReply.decodeResults"
        )
        FuzzCheck.agree(
            direct: frames[0].withUnsafeBytes { ControlReply.decodeAcceptedBatch($0) },
            general: { try ControlReply.decodeGeneral(frames) },
            "ControlReply.decodeAcceptedBatch"
        )
    }
    if let decoded {
        let again = Result { try ControlReply.decode(decoded.frames) }
        FuzzCheck.require((try? again.get()) != nil, "the frames written for \(decoded) do not decode: \(again)")
    }
    return 0
}

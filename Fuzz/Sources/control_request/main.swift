import FlowCore
import FuzzKit

@testable import FlowPool

/// Control requests from clients: `ControlRequest.decode`, the direct `submit` reader against the general one,
/// and the request encoder's output read back. The whole input is the request's single frame.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlRequest(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frame = FuzzInput(data, count: count).bytes
    let direct = frame.withUnsafeBytes { ControlRequest.decodeSubmit($0) }
    FuzzCheck.agree(
        direct: direct,
        general: { try ControlRequest.decodeGeneral(frame) },
        "ControlRequest.decodeSubmit"
    )
    let decoded = try? ControlRequest.decode(frame)
    // Bytes without contiguous storage skip the direct reader.
    let general = try? ControlRequest.decode(frame.lazy.map { $0 })
    FuzzCheck.same(decoded, general, "ControlRequest.decode from an array and from a lazy collection")
    if let decoded {
        let again = Result { try ControlRequest.decode(decoded.frame) }
        FuzzCheck.require(
            (try? again.get()) != nil,
            "the frame written for \(decoded) does not decode: \(again)"
        )
    }
    return 0
}

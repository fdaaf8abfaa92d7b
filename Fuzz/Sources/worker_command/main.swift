import FlowCore
import FuzzKit

@testable import FlowPool

/// Commands a worker receives: `WorkerCommand.decode` on 1–N frames, the direct `job`/`jobs` reader against the
/// general one, and the command encoder's output read back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorkerCommand(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frames = FuzzInput(data, count: count).frames
    let decoded = try? WorkerCommand.decode(frames)
    if frames.count == 1 {
        FuzzCheck.agree(
            direct: frames[0].withUnsafeBytes { WorkerCommand.decodeJobs($0) },
            general: { try WorkerCommand.decodeGeneral(frames[0]) },
            "WorkerCommand.decodeJobs"
        )
    }
    if let decoded {
        let again = Result { try WorkerCommand.decode([decoded.frame]) }
        FuzzCheck.require((try? again.get()) != nil, "the frame written for \(decoded) does not decode: \(again)")
    }
    return 0
}

import FlowCore
import FuzzKit

@testable import FlowPool

/// Worker reports: `WorkerReport.decode` on 1–N frames, the direct `ack`/`ready` and `results` readers against
/// the general one, and the report encoder's output read back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorkerReport(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let frames = FuzzInput(data, count: count).frames
    let decoded = try? WorkerReport.decode(frames)
    if let first = frames.first {
        FuzzCheck.agree(
            direct: WorkerReport.decodeDirectAckOrReady(frames),
            general: { try WorkerReport.decodeGeneral(frames, first: first) },
            "WorkerReport.decodeDirectAckOrReady"
        )
        FuzzCheck.agree(
            direct: WorkerResults.decodeDirect(frames).map(WorkerReport.results),
            general: { try WorkerReport.decodeGeneral(frames, first: first) },
            "WorkerResults.decodeDirect"
        )
    } else {
        FuzzCheck.require(decoded == nil, "WorkerReport.decode read \(String(describing: decoded)) from no frames")
    }
    // A `results` message whose elements were all set aside has nothing to write back.
    if let decoded, !decoded.hasRejections {
        let again = Result { try WorkerReport.decode(decoded.frames) }
        FuzzCheck.require((try? again.get()) != nil, "the frames written for \(decoded) do not decode: \(again)")
    }
    return 0
}

extension WorkerReport {
    /// Whether this is a `results` message with elements that could not be read.
    fileprivate var hasRejections: Bool {
        if case .results(let batch) = self { return !batch.rejected.isEmpty }
        return false
    }
}

import FlowCore
import Testing

@testable import FlowPool

/// Inputs with which the fuzz targets (Fuzz/) broke a decoder, each fed again to the decoder it broke.
///
/// Each input is also a seed, `Fuzz/Corpus/<target>/crash-<what>`, so every fuzz run starts from it.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// A `submit` whose `v` or `op` comes twice (target `control_request`): JSON texts with a duplicate key are
    /// refused (docs/PROTOCOL.md), and the direct `submit` reader must refuse what the general reader does.
    @Test(
        "a submit with a duplicate v or op is refused by both readers",
        arguments: [
            #"{"v":1,"op":"submit","id":"c-1","flow":"agent4","ns":"sales","op":"status"}"#,
            #"{"v":1,"op":"submit","id":"c-1","v":2,"flow":"agent4","ns":"sales"}"#,
        ]
    )
    func submitWithDuplicateKey(_ text: String) {
        let frame = Array(text.utf8)
        #expect(frame.withUnsafeBytes { ControlRequest.decodeSubmit($0) } == nil)
        let error = #expect(throws: JSONWireError.self) { try ControlRequest.decode(frame) }
        #expect(error?.code == .duplicateKey)
    }
}

import FuzzKit

/// The coordinator's state machine (`CoordinatorState`) under a pool of fuzzed peers: every input byte stream
/// is a sequence of steps of ``PoolScenario``, which checks the protocol's promises about runs after each.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCoordinatorState(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count: count)
    var scenario = PoolScenario()
    var steps = 0
    while !input.isAtEnd, steps < PoolScenario.maxSteps {
        scenario.step(&input)
        steps += 1
    }
    scenario.finish()
    return 0
}

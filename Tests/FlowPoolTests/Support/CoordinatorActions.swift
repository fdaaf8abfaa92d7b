@testable import FlowPool

extension CoordinatorState.Action {
    /// The routing identity and frames when the action sends to a worker, exactly as they leave the coordinator.
    var workerFrames: ([UInt8], [[UInt8]])? {
        guard case .command(let identity, let command) = self else { return nil }
        return (identity, [command.frame])
    }

    /// The routing identity and frames when the action answers a control peer.
    var clientFrames: ([UInt8], [[UInt8]])? {
        guard case .reply(let identity, let reply) = self else { return nil }
        return (identity, reply.frames)
    }
}

import FlowPool
import Synchronization

/// Commands a fake worker received, collected by a reader task.
final class ReceivedCommands: Sendable {
    let list = Mutex<[WorkerCommand]>([])
}

import FlowPoolWorker
import SupportAgent

/// `support-worker`: the complete `flowpool worker` command (`--coordinator`, `--concurrency`, `--key-file`,
/// `--coordinator-key`, `--metrics-port`, logging, drain on SIGTERM) with `support_agent` registered.
@main
struct SupportWorker {
    static func main() async {
        await WorkerMain.run { registry in
            SupportAgent.register(in: registry)
        }
    }
}

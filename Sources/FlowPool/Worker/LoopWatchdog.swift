import Logging
import Synchronization
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Vouches for a worker whose flows run on its socket loop (`--executor loop`) while a flow step computes
/// without suspending: the loop then cannot fire its heartbeat timer, so a thread of its own sends
/// ``WorkerReport/stalled(worker:busyMilliseconds:)`` on a DEALER of its own every heartbeat interval, and the
/// coordinator does not declare a busy worker dead.
///
/// It vouches only up to ``WorkerRuntime/stallLimit`` seconds of one step, as the pool executor's heartbeats
/// stop after that long without progress: past it the coordinator declares the worker dead and dispatches
/// its jobs again.
final class LoopWatchdog: Sendable {
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stopping = Flag()
    private let thread: OwnedThread

    /// Starts watching `loop` on a thread of its own that connects to `endpoint` (the coordinator's worker
    /// endpoint); `credential` gives the worker's current credential, which each report carries.
    init(
        context: Context,
        endpoint: String,
        keys: PoolKeys?,
        workerId: String,
        credential: @escaping @Sendable () -> String,
        loop: SocketLoop,
        interval: Duration,
        stallLimit: Double,
        logger: Logger
    ) {
        let stopping = self.stopping
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let step = UInt32(max(1_000, min(seconds * 1e6, 1e6)))
        thread = OwnedThread(name: "fp-watchdog") {
            let socket: Socket
            do {
                socket = try Socket(context, .dealer)
                try keys?.secure(socket)
                try socket.set(.reconnectInterval(100))
                try socket.connect(endpoint)
            } catch {
                logger.error(
                    "the loop watchdog cannot reach \(endpoint): \(error); a long flow step may cost heartbeats"
                )
                return
            }
            defer { socket.close() }
            var reported = false
            while !stopping.value.load(ordering: .relaxed) {
                usleep(step)
                let busy = loop.executorBusySeconds
                guard busy >= seconds, busy < stallLimit else {
                    if reported, busy < seconds {
                        reported = false
                        logger.debug("the socket loop is back from a long flow step")
                    }
                    continue
                }
                if !reported {
                    reported = true
                    logger.notice(
                        "a flow step has held the socket loop for \(Int(busy * 1000)) ms; reporting the worker alive"
                    )
                }
                let report = WorkerReport.stalled(
                    worker: workerId,
                    busyMilliseconds: Int(busy * 1000),
                    credential: credential()
                )
                _ = try? socket.trySend(multipart: report.frames)
            }
        }
    }

    /// Stops watching; returns once the thread has closed its socket.
    func stop() async {
        stopping.value.store(true, ordering: .relaxed)
        await thread.join()
    }
}

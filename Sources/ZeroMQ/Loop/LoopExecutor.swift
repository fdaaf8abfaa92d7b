import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A task executor that runs jobs on a ``SocketLoop``'s own thread, between its polls.
///
/// Tasks that prefer it (`Task(executorPreference: loop.executor)`, `group.addTask(executorPreference:)`,
/// `withTaskExecutorPreference(loop.executor)`) run on the loop thread next to its sockets: handing work
/// to them, or their messages to a socket, then needs no thread hop and no wake-up of another thread. This
/// suits many short, non-blocking tasks (a worker's flows that compute briefly and then await); a task
/// that computes for long holds up the loop's sockets and timer while it runs, so CPU-bound work belongs on
/// the global executor.
///
/// Jobs enqueued from other threads wake the loop; jobs enqueued on the loop thread (a task resuming
/// another) cost no system call. After the loop has stopped, jobs go to the global concurrent executor, so
/// no task is left suspended forever.
public final class LoopExecutor: TaskExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let wake: WakeSignal

    init(wake: WakeSignal) {
        self.wake = wake
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted {
            wake.wake()
        } else {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }

    /// Whether jobs wait to run.
    var hasJobs: Bool { state.withLock { !$0.jobs.isEmpty } }

    /// Runs the jobs queued so far (not those they enqueue) on the calling thread, the loop thread.
    func runQueued() {
        var batch = state.withLock { state in
            defer { state.jobs = [] }
            return state.jobs
        }
        guard !batch.isEmpty else { return }
        let executor = asUnownedTaskExecutor()
        for job in batch { job.runSynchronously(on: executor) }
        batch.removeAll()
    }

    /// Stops taking jobs: those still queued and any enqueued later go to the global concurrent executor.
    func stop() {
        let left = state.withLock { state in
            state.stopped = true
            defer { state.jobs = [] }
            return state.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}

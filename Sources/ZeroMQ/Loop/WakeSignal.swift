import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor another thread can make readable to wake a thread blocked in `zmq_poll`.
///
/// An eventfd on Linux, a non-blocking pipe elsewhere. A flag coalesces wake-ups: however many
/// producers call ``wake()`` before the loop calls ``consume()``, at most one write happens.
final class WakeSignal: Sendable {
    /// The descriptor to poll for readability.
    let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let pending = Atomic<Bool>(false)

    init() throws {
        #if os(Linux)
        let fd = flowpool_zmq_eventfd()
        guard fd >= 0 else {
            throw ZeroMQError(.system, String(cString: strerror(errno)), operation: "create eventfd", errno: errno)
        }
        readDescriptor = fd
        writeDescriptor = fd
        #else
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ZeroMQError(.system, String(cString: strerror(errno)), operation: "create pipe", errno: errno)
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readDescriptor = fds[0]
        writeDescriptor = fds[1]
        #endif
    }

    deinit {
        close(readDescriptor)
        if writeDescriptor != readDescriptor { close(writeDescriptor) }
    }

    /// The thread that polls the descriptor, once it has called ``adopt()``.
    private let owner = Atomic<UInt>(0)

    /// Records the calling thread as the one that polls: its own wake-ups then only set the pending flag,
    /// which it checks before it polls (see ``isPending``), and make no system call.
    func adopt() {
        owner.store(UInt(bitPattern: Self.currentThread), ordering: .releasing)
    }

    private static var currentThread: Int {
        #if canImport(Glibc)
        return Int(bitPattern: UInt(pthread_self()))
        #else
        return Int(bitPattern: pthread_self())
        #endif
    }

    /// Whether the caller is the thread that adopted the signal.
    var isOwnedByCurrentThread: Bool {
        owner.load(ordering: .acquiring) == UInt(bitPattern: Self.currentThread)
    }

    /// Whether a wake-up is pending (the polling thread then polls without waiting).
    var isPending: Bool { pending.load(ordering: .acquiring) }

    /// Makes the descriptor readable unless a wake-up is already pending.
    func wake() {
        guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if isOwnedByCurrentThread { return }
        var one: UInt64 = 1
        #if os(Linux)
        _ = write(writeDescriptor, &one, 8)
        #else
        _ = write(writeDescriptor, &one, 1)
        #endif
    }

    /// Clears the descriptor and the pending flag; call before looking at the shared queues.
    func consume() {
        var buffer: UInt64 = 0
        while read(readDescriptor, &buffer, 8) > 0 {
            #if os(Linux)
            break
            #endif
        }
        pending.store(false, ordering: .sequentiallyConsistent)
    }
}

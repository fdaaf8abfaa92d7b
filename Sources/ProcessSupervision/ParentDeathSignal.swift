#if canImport(Glibc)
import CProcessControl
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes a supervised child stop when its supervisor dies, even by SIGKILL.
///
/// ``ProcessSupervisor`` puts its own process id into every child's environment as ``variable``. A child
/// program calls ``armFromEnvironment(signal:)`` first thing at start-up: on Linux it asks the kernel for a
/// signal (`prctl(PR_SET_PDEATHSIG)`) when its parent exits, then checks that the parent is still the one
/// named, since a parent that died before the `prctl` call sends no signal. Without the variable it does
/// nothing, so a program started by hand or by a service manager behaves as before.
///
/// The kernel sends the signal when the *thread* that spawned the child exits. swift-subprocess spawns from
/// one background thread that lives until the process exits, which is what makes this safe for the
/// supervisor's children; a child spawned from a thread that may end (a Dispatch worker) would be signalled
/// too early.
///
/// ```swift
/// // In the child, before anything else:
/// try ParentDeathSignal.armFromEnvironment()
/// ```
package enum ParentDeathSignal {
    /// The environment variable holding the supervisor's process id.
    package static let variable = "FLOWPOOL_PARENT_PID"

    /// Arms the parent-death signal when ``variable`` is set.
    ///
    /// - Parameter signal: The signal to receive when the parent exits (SIGTERM: a graceful shutdown).
    /// - Throws: ``ProcessSupervisorError`` with code `.parentMismatch` when the variable is not a process
    ///   id or the named parent is no longer this process's parent (it has exited already), and
    ///   `.parentDeathSignalFailed` when the kernel refuses the request.
    package static func armFromEnvironment(signal: Int32 = SIGTERM) throws {
        guard let raw = getenv(variable) else { return }
        let text = String(cString: raw)
        guard let parent = Int32(text), parent > 1 else {
            throw ProcessSupervisorError(
                .parentMismatch,
                "\(variable) must be the process id of the parent process, got '\(text.prefix(40))'; "
                    + "unset it to run without a parent"
            )
        }
        #if os(Linux)
        guard flowpool_set_parent_death_signal(signal) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ProcessSupervisorError(
                .parentDeathSignalFailed,
                "could not ask for a signal on the parent's exit (prctl PR_SET_PDEATHSIG): \(reason)"
            )
        }
        #endif
        // Checked after arming: a parent that exits from here on sends the signal.
        let actual = getppid()
        guard actual == parent else {
            throw ProcessSupervisorError(
                .parentMismatch,
                "the parent process \(parent) (\(variable)) has exited or is not this process's parent "
                    + "(parent is \(actual)); not starting"
            )
        }
    }
}

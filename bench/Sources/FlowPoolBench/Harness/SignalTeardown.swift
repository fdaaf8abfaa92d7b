import Dispatch
import Foundation

/// Kills the harness's child processes when the harness itself is interrupted (SIGINT, SIGTERM, SIGHUP),
/// so that an interrupted benchmark leaves no coordinator or worker behind.
final class SignalTeardown: Sendable {
    // Written once in `init` and only read (cancelled) afterwards.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    /// Installs the handlers; `children` lists the processes to kill at that moment.
    init(children: @escaping @Sendable () -> [Int32]) {
        var made: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                for pid in children() { kill(pid, SIGKILL) }
                FileHandle.standardError.write(Data("interrupted: local pool killed\n".utf8))
                exit(128 + sig)
            }
            source.resume()
            made.append(source)
        }
        sources = made
    }

    /// Removes the handlers (default signal behaviour again).
    func cancel() {
        for s in sources { s.cancel() }
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
    }
}

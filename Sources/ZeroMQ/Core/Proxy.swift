import CZeroMQ
import Synchronization

/// Forwards messages between two sockets with `zmq_proxy_steerable` on a thread it owns.
///
/// The classic use is an event bus: an XSUB socket that publishers connect to, an XPUB socket that
/// subscribers connect to; subscriptions flow upstream, messages downstream, filtered by libzmq.
///
/// ```swift
/// let xsub = try Socket(context, .xsub); try xsub.bind("tcp://*:5556")
/// let xpub = try Socket(context, .xpub); try xpub.bind("tcp://*:5557")
/// let proxy = try Proxy(frontend: xsub, backend: xpub, name: "event-bus")
/// …
/// await proxy.stop()
/// ```
public final class Proxy: Sendable {
    private let control: Mutex<Socket?>
    private let thread: OwnedThread
    private static let sequence = Atomic<Int>(0)

    /// Starts forwarding between `frontend` and `backend`, which the proxy owns and closes when it stops.
    ///
    /// - Parameters:
    ///   - frontend: Usually the XSUB (or ROUTER) socket.
    ///   - backend: Usually the XPUB (or DEALER) socket.
    ///   - capture: Optionally receives a copy of every forwarded message.
    ///   - name: The thread's name.
    public init(
        frontend: sending Socket,
        backend: sending Socket,
        capture: sending Socket? = nil,
        name: String = "zmq-proxy"
    ) throws {
        let context = frontend.context
        let number = Self.sequence.wrappingAdd(1, ordering: .relaxed).newValue
        let endpoint = "inproc://flowpool.proxy-control.\(number)"
        let listener = try Socket(context, .pair)
        try listener.bind(endpoint)
        let controller = try Socket(context, .pair)
        try controller.connect(endpoint)
        control = Mutex(controller)
        let sockets = Transfer((frontend, backend, capture, listener))
        thread = OwnedThread(name: name) {
            let (frontend, backend, capture, listener) = sockets.value
            // Returns when the control socket says TERMINATE or the context is shut down.
            zmq_proxy_steerable(frontend.handle, backend.handle, capture?.handle, listener.handle)
            frontend.close()
            backend.close()
            capture?.close()
            listener.close()
        }
    }

    /// Stops forwarding and waits until the proxy's thread has closed its sockets.
    public func stop() async {
        terminate()
        await thread.join()
    }

    deinit { terminate() }

    private func terminate() {
        control.withLock { control in
            if let socket = control {
                _ = try? socket.send("TERMINATE")
                socket.close()
                control = nil
            }
        }
    }
}

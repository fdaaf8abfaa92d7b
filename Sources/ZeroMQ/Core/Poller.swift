import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of sockets and raw file descriptors waited on together with `zmq_poll`.
///
/// Use it on the thread that owns the sockets. It keeps the sockets it polls alive.
///
/// ```swift
/// var poller = Poller()
/// let jobs = poller.add(pull, events: .readable)
/// if try poller.poll(timeoutMilliseconds: 100) > 0, poller.returnedEvents(at: jobs).contains(.readable) { … }
/// ```
public struct Poller {
    private var items: [zmq_pollitem_t] = []
    private var sockets: [Socket?] = []

    /// Creates an empty poller.
    public init() {}

    /// The number of items.
    public var count: Int { items.count }

    /// Adds a socket and returns its index.
    @discardableResult
    public mutating func add(_ socket: Socket, events: PollEvents) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a raw file descriptor (pipe, eventfd, TCP socket) and returns its index.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: PollEvents) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Changes the events waited for at `index` (an empty set ignores the item).
    public mutating func setEvents(_ events: PollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// The events that were ready at `index` after the last ``poll(timeoutMilliseconds:)``.
    public func returnedEvents(at index: Int) -> PollEvents {
        PollEvents(rawValue: items[index].revents)
    }

    /// Waits until an item is ready or the timeout expires; retries on EINTR.
    ///
    /// - Parameter timeoutMilliseconds: -1 waits forever, 0 returns at once.
    /// - Returns: The number of ready items (0 on timeout).
    /// - Throws: ``ZeroMQError``; `contextTerminated` once the context is shut down.
    @discardableResult
    public mutating func poll(timeoutMilliseconds: Int = -1) throws -> Int {
        while true {
            let ready = items.withUnsafeMutableBufferPointer { buffer in
                zmq_poll(buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
            }
            if ready >= 0 { return Int(ready) }
            let errno = zmq_errno()
            if errno != EINTR { throw ZeroMQError(errno: errno, operation: "poll") }
        }
    }
}

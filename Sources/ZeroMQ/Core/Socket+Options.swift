import CZeroMQ

/// Readiness flags of a socket (`ZMQ_EVENTS`) or of a poll item.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A message can be received (`ZMQ_POLLIN`).
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent (`ZMQ_POLLOUT`).
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a raw file descriptor (`ZMQ_POLLERR`).
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}

extension Socket {
    /// Sets a socket option.
    ///
    /// ```swift
    /// try socket.set(.sendHighWaterMark(100))
    /// try socket.set(.maxMessageSize(1 << 20))
    /// ```
    /// - Throws: ``ZeroMQError`` with `invalidArgument` when libzmq rejects the value.
    public func set(_ option: SocketOption) throws {
        let status = option.withValue { value in
            zmq_setsockopt(handle, option.code, value.baseAddress, value.count)
        }
        guard status == 0 else { throw ZeroMQError.last("set option \(option)") }
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix` ("" = everything).
    public func subscribe(_ prefix: String) throws { try set(.subscribe(Array(prefix.utf8))) }

    /// Removes a subscription added with ``subscribe(_:)``.
    public func unsubscribe(_ prefix: String) throws { try set(.unsubscribe(Array(prefix.utf8))) }

    /// Reads an `int` option by its libzmq number (e.g. `ZMQ_SNDHWM`).
    public func int32Option(_ option: Int32) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, option, &value, &size) == 0 else { throw ZeroMQError.last("get option \(option)") }
        return value
    }

    /// Reads a 64-bit option by its libzmq number (e.g. `ZMQ_MAXMSGSIZE`).
    public func int64Option(_ option: Int32) throws -> Int64 {
        var value: Int64 = 0
        var size = MemoryLayout<Int64>.size
        guard zmq_getsockopt(handle, option, &value, &size) == 0 else { throw ZeroMQError.last("get option \(option)") }
        return value
    }

    /// Reads a binary option by its libzmq number (up to 256 bytes, e.g. `ZMQ_ROUTING_ID`).
    public func bytesOption(_ option: Int32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(handle, option, &buffer, &size) == 0 else {
            throw ZeroMQError.last("get option \(option)")
        }
        return Array(buffer[..<size])
    }

    /// The endpoint of the last bind or connect (`ZMQ_LAST_ENDPOINT`), with the real port for `*`.
    public var lastEndpoint: String {
        get throws {
            var bytes = try bytesOption(ZMQ_LAST_ENDPOINT)
            while bytes.last == 0 { bytes.removeLast() }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// What the socket can do right now without blocking (`ZMQ_EVENTS`).
    public var events: PollEvents {
        get throws { PollEvents(rawValue: Int16(truncatingIfNeeded: try int32Option(ZMQ_EVENTS))) }
    }

    /// The socket's edge-triggered notification descriptor (`ZMQ_FD`); check ``events`` after it signals.
    public var fileDescriptor: Int32 {
        get throws { try int32Option(ZMQ_FD) }
    }

    /// The socket's routing id (`ZMQ_ROUTING_ID`).
    public var routingID: [UInt8] {
        get throws { try bytesOption(ZMQ_ROUTING_ID) }
    }

    /// The largest inbound message accepted (`ZMQ_MAXMSGSIZE`), -1 for unlimited.
    public var maxMessageSize: Int64 {
        get throws { try int64Option(ZMQ_MAXMSGSIZE) }
    }
}

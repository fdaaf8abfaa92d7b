import CZeroMQ

/// A reusable libzmq message (`zmq_msg_t`) for receiving without allocating.
///
/// Receiving into the same `Message` again releases the previous content; the bytes stay valid until
/// then. Use it on one thread, like the socket it reads from.
///
/// ```swift
/// let message = Message()
/// while try socket.receive(into: message) {
///     message.withUnsafeBytes { bytes in handle(bytes) }
/// }
/// ```
public final class Message {
    @usableFromInline let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// Creates an empty message.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// The number of bytes in the message.
    @inlinable
    public var count: Int { zmq_msg_size(pointer) }

    /// Whether more frames of the same multipart message follow this one.
    @inlinable
    public var hasMore: Bool { zmq_msg_more(pointer) != 0 }

    /// Calls `body` with the message's bytes, valid only during the call.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer)))
    }

    /// A metadata property of the message (`zmq_msg_gets`), e.g. `User-Id` or `Peer-Address`; valid until the
    /// message is received into again. `nil` when the message has no such property.
    @inlinable
    public func property(_ name: String) -> UnsafePointer<CChar>? {
        zmq_msg_gets(pointer, name)
    }

    /// A copy of the message's bytes.
    @inlinable
    public var bytes: [UInt8] {
        let count = zmq_msg_size(pointer)
        guard count > 0 else { return [] }
        let source = zmq_msg_data(pointer)!
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.baseAddress!.update(from: source.assumingMemoryBound(to: UInt8.self), count: count)
            initialized = count
        }
    }
}

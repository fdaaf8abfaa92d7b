import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Socket {
    /// Sends one frame, blocking until libzmq queues it (or `ZMQ_SNDTIMEO` expires).
    ///
    /// The bytes are copied once, by libzmq, into its message; nothing is copied on the Swift side.
    ///
    /// - Parameters:
    ///   - bytes: The frame's bytes.
    ///   - more: `true` when more frames of the same multipart message follow.
    /// - Throws: ``ZeroMQError``; `timedOut` when the send timeout expired.
    @inlinable
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false) throws {
        let flags: Int32 = more ? ZMQ_SNDMORE : 0
        while zmq_send(handle, bytes.baseAddress, bytes.count, flags) < 0 {
            let errno = zmq_errno()
            if errno == EINTR { continue }
            if errno == EAGAIN { throw ZeroMQError(.timedOut, "send timed out", operation: "send", errno: errno) }
            throw ZeroMQError(errno: errno, operation: "send")
        }
    }

    /// Sends one frame if libzmq can queue it now (`ZMQ_DONTWAIT`).
    ///
    /// - Returns: `false` when the send would block (high-water mark reached, no peer for PUSH/DEALER).
    @inlinable
    public func trySend(_ bytes: UnsafeRawBufferPointer, more: Bool = false) throws -> Bool {
        let flags: Int32 = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        while zmq_send(handle, bytes.baseAddress, bytes.count, flags) < 0 {
            let errno = zmq_errno()
            if errno == EINTR { continue }
            if errno == EAGAIN { return false }
            throw ZeroMQError(errno: errno, operation: "send")
        }
        return true
    }

    /// Sends one frame from any contiguous byte collection (`[UInt8]`, `ArraySlice<UInt8>`, …).
    @inlinable
    public func send<Bytes: Collection<UInt8>>(_ bytes: Bytes, more: Bool = false) throws {
        let sent: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            try send(UnsafeRawBufferPointer(buffer), more: more)
        }
        if sent == nil { try Array(bytes).withUnsafeBytes { buffer in try send(buffer, more: more) } }
    }

    /// Sends one frame from a contiguous byte collection if possible now; `false` if it would block.
    @inlinable
    public func trySend<Bytes: Collection<UInt8>>(_ bytes: Bytes, more: Bool = false) throws -> Bool {
        if let sent = try bytes.withContiguousStorageIfAvailable({ buffer in
            try trySend(UnsafeRawBufferPointer(buffer), more: more)
        }) {
            return sent
        }
        return try Array(bytes).withUnsafeBytes { buffer in try trySend(buffer, more: more) }
    }

    /// Sends a string's UTF-8 bytes as one frame.
    public func send(_ string: String, more: Bool = false) throws {
        var string = string
        try string.withUTF8 { buffer in try send(UnsafeRawBufferPointer(buffer), more: more) }
    }

    /// Sends all frames of a multipart message atomically (blocking until queued).
    public func send(multipart frames: [[UInt8]]) throws {
        guard !frames.isEmpty else {
            throw ZeroMQError(.invalidArgument, "a message has at least one frame", operation: "send")
        }
        let last = frames.count - 1
        for index in frames.indices {
            try send(frames[index], more: index < last)
        }
    }

    /// Sends a multipart message if its first frame can be queued now.
    ///
    /// libzmq accepts the remaining frames of a message whose first frame it accepted, so the message is
    /// either sent whole or not at all.
    ///
    /// - Returns: `false` when the message would block; nothing was sent.
    public func trySend(multipart frames: [[UInt8]]) throws -> Bool {
        guard !frames.isEmpty else {
            throw ZeroMQError(.invalidArgument, "a message has at least one frame", operation: "send")
        }
        let last = frames.count - 1
        guard try trySend(frames[0], more: last > 0) else { return false }
        for index in frames.indices.dropFirst() {
            try send(frames[index], more: index < last)
        }
        return true
    }
}

import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Socket {
    /// Receives the next frame into `message`, reusing its storage (the allocation-free hot path).
    ///
    /// - Parameters:
    ///   - message: Receives the frame; its previous content is released.
    ///   - wait: `false` for `ZMQ_DONTWAIT`.
    /// - Returns: `false` when `wait` is `false` and nothing is ready.
    /// - Throws: ``ZeroMQError``; `timedOut` when a blocking receive hit `ZMQ_RCVTIMEO`.
    @inlinable
    @discardableResult
    public func receive(into message: Message, wait: Bool = true) throws -> Bool {
        let flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
        while zmq_msg_recv(message.pointer, handle, flags) < 0 {
            let errno = zmq_errno()
            if errno == EINTR { continue }
            if errno == EAGAIN {
                if !wait { return false }
                throw ZeroMQError(.timedOut, "receive timed out", operation: "receive", errno: errno)
            }
            throw ZeroMQError(errno: errno, operation: "receive")
        }
        return true
    }

    /// Receives one frame, blocking until it arrives (or `ZMQ_RCVTIMEO` expires).
    public func receive() throws -> [UInt8] {
        try receive(into: scratch)
        return scratch.bytes
    }

    /// Receives one frame if one is ready now; `nil` otherwise.
    public func tryReceive() throws -> [UInt8]? {
        guard try receive(into: scratch, wait: false) else { return nil }
        return scratch.bytes
    }

    /// Receives a whole multipart message, blocking for its first frame.
    ///
    /// - Parameter maxFrames: The most frames accepted; a longer message is read to its end, discarded,
    ///   and reported as `tooManyFrames` (the socket stays usable).
    public func receiveMultipart(maxFrames: Int = 64) throws -> [[UInt8]] {
        try receive(into: scratch)
        return try readRemainingFrames(maxFrames: maxFrames)
    }

    /// Receives a whole multipart message if one is ready now; `nil` otherwise.
    public func tryReceiveMultipart(maxFrames: Int = 64) throws -> [[UInt8]]? {
        guard try receive(into: scratch, wait: false) else { return nil }
        return try readRemainingFrames(maxFrames: maxFrames)
    }

    /// Reads the rest of a message whose first frame is in `scratch`.
    func readRemainingFrames(maxFrames: Int) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        // Room for a typical multipart message, so reading one grows no array.
        frames.reserveCapacity(scratch.hasMore ? min(maxFrames, 4) : 1)
        frames.append(scratch.bytes)
        var total = 1
        while scratch.hasMore {
            // The rest of a multipart message is delivered atomically with its first frame.
            try receive(into: scratch)
            total += 1
            if total <= maxFrames { frames.append(scratch.bytes) }
        }
        if total > maxFrames {
            throw ZeroMQError(
                .tooManyFrames,
                "message of \(total) frames exceeds the bound of \(maxFrames); discarded",
                operation: "receive"
            )
        }
        return frames
    }
}

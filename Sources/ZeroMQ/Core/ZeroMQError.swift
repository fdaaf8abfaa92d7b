import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from libzmq or from the binding, with what the caller was doing when it happened.
///
/// `code` classifies the failure; `errno` and `message` carry libzmq's own report (`zmq_strerror`), and
/// `operation` says what was attempted, e.g. `"bind tcp://127.0.0.1:5555"`.
public struct ZeroMQError: Error, Sendable, CustomStringConvertible {
    /// A classification of ZeroMQ failures that callers can switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case wouldBlock, timedOut, interrupted, contextTerminated, invalidArgument, addressInUse
            case addressNotAvailable, protocolNotSupported, endpointNotFound, hostUnreachable
            case messageTooLarge, tooManyFrames, wrongState, loopStopped, socketNotFound, system
        }
        private let value: Value

        /// The operation would have blocked (EAGAIN on a non-blocking call).
        public static let wouldBlock = Code(value: .wouldBlock)
        /// A send or receive timeout (`ZMQ_SNDTIMEO`/`ZMQ_RCVTIMEO`) expired.
        public static let timedOut = Code(value: .timedOut)
        /// A signal interrupted the call (EINTR) where it is not retried.
        public static let interrupted = Code(value: .interrupted)
        /// The context was shut down or terminated (ETERM).
        public static let contextTerminated = Code(value: .contextTerminated)
        /// An argument or option value was rejected (EINVAL).
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The endpoint is already bound (EADDRINUSE).
        public static let addressInUse = Code(value: .addressInUse)
        /// The address is not local or not resolvable (EADDRNOTAVAIL, ENODEV).
        public static let addressNotAvailable = Code(value: .addressNotAvailable)
        /// The transport or mechanism is not supported (EPROTONOSUPPORT, ENOCOMPATPROTO, ENOTSUP).
        public static let protocolNotSupported = Code(value: .protocolNotSupported)
        /// The endpoint was not bound or connected (ENOENT on unbind/disconnect).
        public static let endpointNotFound = Code(value: .endpointNotFound)
        /// A ROUTER with `routerMandatory` has no peer with that routing id (EHOSTUNREACH).
        public static let hostUnreachable = Code(value: .hostUnreachable)
        /// A message is larger than allowed (EMSGSIZE).
        public static let messageTooLarge = Code(value: .messageTooLarge)
        /// A multipart message had more frames than the caller's bound; it was discarded.
        public static let tooManyFrames = Code(value: .tooManyFrames)
        /// The socket is in the wrong state for this operation (EFSM), e.g. REQ sending twice.
        public static let wrongState = Code(value: .wrongState)
        /// The ``SocketLoop`` owning the socket has stopped.
        public static let loopStopped = Code(value: .loopStopped)
        /// The ``SocketLoop`` does not own a socket with that handle.
        public static let socketNotFound = Code(value: .socketNotFound)
        /// Any other failure; see `errno` and `message`.
        public static let system = Code(value: .system)

        public var description: String { "\(value)" }

        /// Classifies an errno value reported by libzmq.
        public init(errno: Int32) {
            switch errno {
            case EAGAIN: self = .wouldBlock
            case EINTR: self = .interrupted
            case ETERM: self = .contextTerminated
            case EINVAL: self = .invalidArgument
            case EADDRINUSE: self = .addressInUse
            case EADDRNOTAVAIL, ENODEV: self = .addressNotAvailable
            case EPROTONOSUPPORT, ENOCOMPATPROTO, ENOTSUP: self = .protocolNotSupported
            case ENOENT: self = .endpointNotFound
            case EHOSTUNREACH: self = .hostUnreachable
            case EMSGSIZE: self = .messageTooLarge
            case EFSM: self = .wrongState
            default: self = .system
            }
        }

        private init(value: Value) { self.value = value }
    }

    /// The classified failure.
    public var code: Code
    /// The errno reported by libzmq, or 0 when the binding raised the error itself.
    public var errno: Int32
    /// libzmq's text for `errno` (`zmq_strerror`), or the binding's explanation.
    public var message: String
    /// What was being attempted, e.g. `"connect tcp://10.0.0.2:5555"`.
    public var operation: String

    /// Creates an error with an explicit code and message.
    public init(_ code: Code, _ message: String, operation: String, errno: Int32 = 0) {
        self.code = code
        self.errno = errno
        self.message = message
        self.operation = operation
    }

    /// Creates an error from an errno value reported by libzmq.
    public init(errno: Int32, operation: String) {
        self.code = Code(errno: errno)
        self.errno = errno
        self.message = String(cString: zmq_strerror(errno))
        self.operation = operation
    }

    /// The error for the calling thread's current `zmq_errno()`.
    @usableFromInline
    static func last(_ operation: @autoclosure () -> String) -> ZeroMQError {
        ZeroMQError(errno: zmq_errno(), operation: operation())
    }

    public var description: String {
        "ZeroMQ error (\(code)) during \(operation): \(message)" + (errno != 0 ? " [errno \(errno)]" : "")
    }
}

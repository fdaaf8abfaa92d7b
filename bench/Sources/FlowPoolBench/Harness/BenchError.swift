/// A failure of the load harness, with what to do about it.
struct BenchError: Error, CustomStringConvertible {
    /// What went wrong, broadly.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        var description: String { rawValue }

        /// Starting the pool or connecting to it failed.
        static let setup = Code(rawValue: "setup")
        /// The pool did not answer in time.
        static let timeout = Code(rawValue: "timeout")
        /// The run's figures break a promise (lost runs, lost events).
        static let verification = Code(rawValue: "verification")
    }

    var code: Code
    var message: String
    var underlying: (any Error)?

    init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    var description: String {
        "\(code): \(message)" + (underlying.map { " (\($0))" } ?? "")
    }
}

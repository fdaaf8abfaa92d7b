/// Why `flowpool keys` wrote nothing (or took back what it wrote).
struct KeysError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    enum Code: String, Sendable {
        /// A key file of that name is in the directory already.
        case keyFileExists = "key_file_exists"
        /// The allow-list file does not parse.
        case invalidAllowList = "invalid_allow_list"
        /// The allow-list has the new key's name (or key) already.
        case alreadyAllowed = "already_allowed"
        /// A key file that cannot be read or holds no valid key.
        case invalidKeyFile = "invalid_key_file"
        /// A file could not be read, created or written.
        case fileSystem = "file_system"
    }

    /// What went wrong.
    var code: Code
    /// What happened and what to do, for a person.
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}

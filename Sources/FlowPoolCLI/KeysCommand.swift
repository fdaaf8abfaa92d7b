import ArgumentParser
import FlowPool
import FlowPoolWorker
import Foundation
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `flowpool keys`: the CURVE key pairs of a pool with keys, and the coordinator's allow-list.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make and inspect the CURVE keys of a pool with keys.",
        discussion: """
            The coordinator has a key pair of its own; every worker, client and subscriber has one too, and its \
            public key is a line of the coordinator's allow-list with its role (and namespaces). Secret key files \
            stay on the host that uses them; only public keys travel. deploy/README.md, "Keys", has the whole \
            procedure, with rotation and revocation.
            """,
        subcommands: [New.self, Show.self]
    )
}

extension KeysCommand {
    /// What a key is for: a peer's role in the allow-list, or the coordinator's own key.
    enum Role: String, CaseIterable, ExpressibleByArgument {
        case client
        case worker
        case subscriber
        case coordinator

        /// The allow-list role, nil for the coordinator.
        var peerRole: PeerRole? { PeerRole(rawValue: rawValue) }
    }

    /// `flowpool keys new`: a key pair's two files, and for a peer its allow-list line.
    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Make a key pair: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
            discussion: """
                For a client, worker or subscriber, prints the key's allow-list line on standard output and, with \
                --allow-file, appends it to that file (created when missing); the coordinator reads it again on \
                SIGHUP. For the coordinator, prints its public key: its NAME.key file goes to every peer \
                (--coordinator-key). Notes go to standard error. Nothing is written unless everything is valid: \
                an existing key file, a name already in the allow-list or an allow-list that does not parse is \
                refused first.

                  flowpool keys new coordinator --role coordinator --out-dir keys
                  flowpool keys new support-app --role client --namespaces support,sales_* --out-dir keys \
                --allow-file keys/allow.list
                  flowpool keys new worker-a --role worker --out-dir keys --allow-file keys/allow.list
                """
        )

        @Argument(help: "The key's name (1–64 of A-Z a-z 0-9 . _ -): its file names and its allow-list name.")
        var name: String

        @Option(help: "client, worker or subscriber (a peer's key) or coordinator (the coordinator's own).")
        var role: Role

        @Option(
            help: """
                The namespaces a client or subscriber key may use: a comma list of names, PREFIX* patterns or * \
                for all (support,sales_*). Required for clients and subscribers; workers run every namespace.
                """
        )
        var namespaces: String?

        @Option(help: "Directory for the two key files (created when missing).")
        var outDir: String = "."

        @Option(help: "Allow-list file to append the peer key's line to (created when missing).")
        var allowFile: String?

        func validate() throws {
            guard let peerRole = role.peerRole else {
                if namespaces != nil {
                    throw ValidationError(
                        "the coordinator's key takes no --namespaces: namespaces are given to peer keys"
                    )
                }
                if allowFile != nil {
                    throw ValidationError(
                        """
                        the coordinator's key does not go in the allow-list; drop --allow-file (its public file \
                        goes to every peer, as their --coordinator-key)
                        """
                    )
                }
                _ = try Self.checked(name: name, role: .worker, publicKey: Self.placeholderKey, namespaces: nil)
                return
            }
            _ = try Self.checked(name: name, role: peerRole, publicKey: Self.placeholderKey, namespaces: namespaces)
        }

        func run() throws {
            let pair = try CurveKeyPair.generate()
            var metadata = ["name": name, "role": role.rawValue]
            var entry: AllowList.Entry?
            if let peerRole = role.peerRole {
                let checked = try Self.checked(
                    name: name,
                    role: peerRole,
                    publicKey: pair.publicKey,
                    namespaces: namespaces
                )
                if peerRole.hasNamespaces {
                    metadata["namespaces"] = checked.namespaces.map(\.description).joined(separator: ",")
                }
                entry = checked
            }

            // Everything that can be refused is refused before the first file is written.
            var allowList: AllowListFile?
            if let allowFile, let entry { allowList = try AllowListFile(path: allowFile, adding: entry) }
            let publicPath = (outDir as NSString).appendingPathComponent(name + ".key")
            let secretPath = (outDir as NSString).appendingPathComponent(name + ".key_secret")
            for path in [publicPath, secretPath] where FileManager.default.fileExists(atPath: path) {
                throw KeysError(
                    .keyFileExists,
                    "\(path) exists already; choose another name or --out-dir (nothing was written)"
                )
            }
            let madeDirectory = try Self.makeDirectory(outDir)
            // Takes back what this run wrote when a later step fails.
            let undo = {
                Self.removeOwnFiles(publicPath: publicPath, secretPath: secretPath, pair: pair)
                if madeDirectory { rmdir(outDir) }
            }

            let certificate = CertificateFile(publicKey: pair.publicKey, secretKey: pair.secretKey, metadata: metadata)
            do {
                _ = try certificate.write(name: name, directory: outDir)
            } catch {
                undo()
                throw KeysError(.fileSystem, "\(error.message) (no key was written)")
            }
            if let allowList {
                do {
                    try allowList.append()
                } catch {
                    undo()
                    throw KeysError(.fileSystem, "\(error.message) (the key files were removed again)")
                }
            }

            printError("wrote \(secretPath) (secret, mode 0600: it stays on the host that uses this key)")
            printError("wrote \(publicPath) (public)")
            if let entry {
                printFlushed(entry.line)
                if let allowFile {
                    printError(
                        "appended the line above to \(allowFile); reload the coordinator to apply it (SIGHUP)"
                    )
                } else {
                    printError(
                        """
                        add the line above to the coordinator's allow-list (--allow-file) and reload it (SIGHUP); \
                        the \(role) runs with --key-file \(secretPath) --coordinator-key coordinator.key
                        """
                    )
                }
            } else {
                printFlushed(pair.publicKey)
                printError(
                    """
                    the coordinator runs with --key-file \(secretPath); its public file \(publicPath) (or the key \
                    above) goes to every worker, client and subscriber, as their --coordinator-key
                    """
                )
            }
        }

        /// A valid key for checking the other fields before the real one is made.
        static let placeholderKey = String(repeating: "0", count: 40)

        /// The allow-list entry, validated by the allow-list, or a `ValidationError` saying which flag to change.
        static func checked(
            name: String,
            role: PeerRole,
            publicKey: String,
            namespaces: String?
        ) throws -> AllowList.Entry {
            var patterns: [NamespacePattern] = []
            do throws(AccessError) {
                if let namespaces { patterns = try NamespacePattern.list(namespaces) }
            } catch {
                throw ValidationError("--namespaces: \(error.message)")
            }
            let entry = AllowList.Entry(name: name, role: role, publicKey: publicKey, namespaces: patterns)
            var list = AllowList()
            do {
                try list.add(entry)
            } catch {
                if role.hasNamespaces, patterns.isEmpty {
                    throw ValidationError("\(error.message); give them with --namespaces")
                }
                if !role.hasNamespaces, !patterns.isEmpty {
                    throw ValidationError("\(error.message); leave out --namespaces")
                }
                throw ValidationError(error.message)
            }
            return entry
        }

        /// Creates `path` (and its parents) when missing, with the usual mode: the secret file's own mode (0600)
        /// protects it, and a service's user must be able to reach the public files beside it.
        /// - Returns: Whether it was created.
        static func makeDirectory(_ path: String) throws -> Bool {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else {
                    throw KeysError(.fileSystem, "--out-dir \(path) is not a directory")
                }
                return false
            }
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw KeysError(.fileSystem, "cannot create --out-dir \(path): \(error.localizedDescription)")
            }
            return true
        }

        /// Removes the key files this run wrote (recognised by their keys) after a later step failed.
        static func removeOwnFiles(publicPath: String, secretPath: String, pair: CurveKeyPair) {
            if let file = try? CertificateFile.load(path: secretPath), file.secretKey == pair.secretKey {
                unlink(secretPath)
            }
            if let file = try? CertificateFile.load(path: publicPath), file.secretKey == nil,
                file.publicKey == pair.publicKey
            {
                unlink(publicPath)
            }
        }
    }
}

extension KeysCommand {
    /// `flowpool keys show`: what a key file holds.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the public key of a key file (NAME.key or NAME.key_secret), and what it is for.",
            discussion: """
                Prints `public-key`, then the file's name, role and namespaces when it has them, and for a peer's \
                key its allow-list line (to add a key to another coordinator's list, say). Never prints a secret \
                key.
                """
        )

        @Argument(help: "The key file.")
        var file: String

        func run() throws {
            let certificate: CertificateFile
            do {
                certificate = try CertificateFile.load(path: file)
            } catch {
                throw KeysError(.invalidKeyFile, error.message)
            }
            let metadata = certificate.metadata
            printFlushed("public-key: \(certificate.publicKey)")
            printFlushed("file: \(certificate.secretKey == nil ? "public key only" : "secret key file")")
            for key in ["name", "role", "namespaces"] {
                if let value = metadata[key] { printFlushed("\(key): \(value)") }
            }
            if let name = metadata["name"], let role = metadata["role"].flatMap(PeerRole.init(rawValue:)) {
                let namespaces = (try? NamespacePattern.list(metadata["namespaces"] ?? "")) ?? []
                let entry = AllowList.Entry(
                    name: name,
                    role: role,
                    publicKey: certificate.publicKey,
                    namespaces: role.hasNamespaces ? namespaces : []
                )
                var list = AllowList()
                if (try? list.add(entry)) != nil { printFlushed("allow-list line: \(entry.line)") }
            }
            if certificate.secretKey != nil, let warning = CertificateFile.permissionWarning(path: file) {
                printError("warning: \(warning)")
            }
        }
    }
}

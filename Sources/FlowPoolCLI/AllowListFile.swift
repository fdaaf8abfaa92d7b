import ArgumentParser
import FlowPool
import FlowPoolWorker
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An allow-list file a new key's line is about to be appended to, checked first: the file (when it exists) must
/// parse and must not hold the new key's name or key already.
struct AllowListFile {
    let path: String
    let entry: AllowList.Entry
    /// Whether the file exists (else ``append()`` creates it, with a header).
    let exists: Bool
    /// Whether the existing text ends without a line feed.
    private let needsLineFeed: Bool

    /// The header of a new allow-list file.
    static let header = """
        # FlowPool allow-list: the public keys the coordinator accepts (flowpool coordinator --allow-file).
        # One key per line:  NAME ROLE PUBLIC-KEY [NAMESPACES]
        #   ROLE        client, worker or subscriber
        #   PUBLIC-KEY  the key's public half (40 characters of Z85, from its NAME.key file)
        #   NAMESPACES  clients and subscribers only: a comma list of namespaces, PREFIX* patterns, or * for all
        # Lines starting with # are ignored. `flowpool keys new NAME --role ROLE --allow-file FILE` appends a line.
        # After a change, reload the coordinator (SIGHUP): a removed key is refused from then on.

        """

    /// Reads and checks the file at `path` for adding `entry`.
    /// - Throws: ``KeysError`` when the file cannot be read, does not parse, or has the name or key already.
    init(path: String, adding entry: AllowList.Entry) throws {
        self.path = path
        self.entry = entry
        var isDirectory: ObjCBool = false
        exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        guard exists else {
            needsLineFeed = false
            return
        }
        guard !isDirectory.boolValue else {
            throw KeysError(.fileSystem, "--allow-file \(path) is a directory; give the allow-list file in it")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KeysError(.fileSystem, "cannot read the allow-list \(path): \(error.localizedDescription)")
        }
        var list: AllowList
        do {
            list = try AllowList(parsing: text, source: path)
        } catch {
            throw KeysError(.invalidAllowList, "\(error.message); fix that line first (nothing was written)")
        }
        do {
            try list.add(entry)
        } catch {
            throw KeysError(
                .alreadyAllowed,
                """
                \(path): \(error.message); choose another name (to replace a key, add the new one under a new \
                name and remove the old line afterwards) (nothing was written)
                """
            )
        }
        guard access(path, W_OK) == 0 else {
            throw KeysError(.fileSystem, "cannot write the allow-list \(path): \(String(cString: strerror(errno)))")
        }
        needsLineFeed = !text.isEmpty && !text.hasSuffix("\n")
    }

    /// Appends the entry's line, creating the file (and its directory) with ``header`` when it did not exist.
    /// - Throws: ``AccessError`` when the file cannot be created or written.
    func append() throws(AccessError) {
        var text = (needsLineFeed ? "\n" : "") + entry.line + "\n"
        let fd: Int32
        if exists {
            fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        } else {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw AccessError("cannot create the directory of \(path): \(error.localizedDescription)")
                }
            }
            text = Self.header + text
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else {
            throw AccessError("cannot open the allow-list \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AccessError("cannot write the allow-list \(path): \(String(cString: strerror(errno)))")
            }
            written += n
        }
    }
}

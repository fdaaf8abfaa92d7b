import FlowCore
import Foundation
import Glibc
import Logging
import Synchronization

/// When the journal's writes are forced to the disk (`--fsync`).
public enum JournalSync: String, Sendable, CaseIterable {
    /// Before any reply that depends on them (`accepted`, a result): a power loss loses nothing acknowledged.
    /// Costs a disk flush per loop round that wrote.
    case always
    /// Every `Journal.syncInterval` from a thread of its own: a process crash loses nothing acknowledged (the
    /// writes are in the kernel before the replies leave), a power loss up to that interval's worth.
    case interval
    /// Never forced: a process crash loses nothing acknowledged, a power loss what the kernel had not yet
    /// written back (by default up to about 30 s on Linux).
    case never
}

/// The coordinator's journal: an append-only log of accepted runs, dispatched attempts and results, in one file
/// of its data directory (`journal.log`).
///
/// Records are appended to a buffer as the coordinator works and written in one `write(2)` per loop round
/// (``commit()``), before the replies of that round leave: whatever a client was told survives a crash of the
/// process. ``JournalSync`` says when writes are forced to the disk. When the file grows past
/// ``compactionThreshold`` and twice its size after the last compaction, ``compact(_:)`` rewrites it with only
/// what is still live (runs not finished, results kept), through a temporary file renamed over it.
package final class Journal: Sendable {
    package struct Recovered: Sendable {
        /// Accepted runs that had not finished, in order of acceptance, with the last attempt dispatched.
        package var unfinished: [(run: JournalRecord.AcceptedRun, attempts: Int)] = []
        /// Results of finished runs, oldest first.
        package var results: [RunResult] = []
        /// Records read.
        package var records = 0
        /// Bytes at the end of the file that were not a valid record (dropped).
        package var droppedBytes = 0
        /// Why the tail was dropped, when it was.
        package var tailProblem: String?
    }

    /// Seconds between forced writes under ``JournalSync/interval``.
    static let syncInterval = 0.1
    /// Below this size the journal is never compacted (by default).
    static let compactionThreshold = 64 << 20
    /// Largest frame read back (a bigger length is taken for corruption).
    static let maxFrameBytes = 1 << 30

    let directory: String
    package let path: String
    /// Below this size the journal is never compacted.
    let compactionThreshold: Int
    let sync: JournalSync
    private let logger: Logger
    private struct State {
        var fd: Int32
        var pending: [UInt8] = []
        var size = 0
        var sizeAfterCompaction = 0
        var unsynced = false
        var syncerStopped = false
        /// A compaction in progress: its snapshot is written by a thread of its own while commits go on.
        var compaction: Compaction?
    }

    /// A compaction in progress.
    private struct Compaction {
        /// What was committed since the snapshot was taken: appended to the new file before it replaces the old.
        var sinceSnapshot: [UInt8] = []
        /// The written snapshot, once its thread is done: the temporary file, its size, its record count.
        var written: (fd: Int32, bytes: Int, records: Int)?
    }
    private let state: Mutex<State>
    /// Held while the syncer thread forces the file to the disk, and while the file is closed or replaced: the
    /// syncer never flushes a descriptor that was closed (or reused) meanwhile. Taken before `state`.
    private let descriptorInUse = Mutex(0)

    /// Opens (creating it if needed) the journal in `directory`, reads it back and returns what it holds. A torn
    /// or corrupt tail is reported in ``Recovered/tailProblem`` and cut off, so the file ends with its valid
    /// records.
    package static func open(
        directory: String,
        sync: JournalSync,
        logger: Logger,
        compactionThreshold: Int = Journal.compactionThreshold
    ) throws -> (Journal, Recovered) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw JournalError("cannot create the data directory \(directory): \(error)")
        }
        let path = "\(directory)/journal.log"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            throw JournalError("\(path) is not a regular file; give --data-dir a directory of its own")
        }
        let (recovered, validBytes) = try read(fd: fd, path: path)
        if recovered.droppedBytes > 0 {
            guard ftruncate(fd, off_t(validBytes)) == 0 else {
                throw JournalError("cannot cut the invalid tail of \(path): \(String(cString: strerror(errno)))")
            }
            _ = fsync(fd)
        }
        guard lseek(fd, off_t(validBytes), SEEK_SET) >= 0 else {
            throw JournalError("cannot seek in \(path): \(String(cString: strerror(errno)))")
        }
        let journal = Journal(
            directory: directory,
            path: path,
            fd: fd,
            size: validBytes,
            sync: sync,
            logger: logger,
            compactionThreshold: compactionThreshold
        )
        journal.startSyncer()
        return (journal, recovered)
    }

    private init(
        directory: String,
        path: String,
        fd: Int32,
        size: Int,
        sync: JournalSync,
        logger: Logger,
        compactionThreshold: Int
    ) {
        self.compactionThreshold = compactionThreshold
        self.directory = directory
        self.path = path
        self.sync = sync
        self.logger = logger
        self.state = Mutex(State(fd: fd, size: size, sizeAfterCompaction: size))
    }

    /// Reads every valid record; returns what they hold and where the valid part ends.
    private static func read(fd: Int32, path: String) throws -> (Recovered, Int) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw JournalError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        var recovered = Recovered()
        var accepted: [String: (run: JournalRecord.AcceptedRun, attempts: Int, order: Int)] = [:]
        var results: [(RunResult, Int)] = []
        var i = 0
        var order = 0
        while i < bytes.count {
            guard bytes.count - i >= 9 else {
                recovered.tailProblem = "a record header cut short at byte \(i)"
                break
            }
            let length = Int(JournalRecord.readLittleEndian(bytes, at: i))
            let crc = JournalRecord.readLittleEndian(bytes, at: i + 4)
            guard length >= 1, length <= maxFrameBytes else {
                recovered.tailProblem = "a record length of \(length) at byte \(i)"
                break
            }
            guard bytes.count - i - 8 >= length else {
                recovered.tailProblem = "a record of \(length) bytes cut short at byte \(i)"
                break
            }
            var check = CRC32()
            check.update(bytes[(i + 8)..<(i + 8 + length)])
            guard check.value == crc else {
                recovered.tailProblem = "a record whose checksum does not match at byte \(i)"
                break
            }
            let record: JournalRecord
            do {
                record = try JournalRecord.decode(type: bytes[i + 8], payload: bytes[(i + 9)..<(i + 8 + length)])
            } catch {
                recovered.tailProblem = "a record that cannot be read at byte \(i): \(error)"
                break
            }
            i += 8 + length
            recovered.records += 1
            order += 1
            switch record {
            case .accepted(let run):
                accepted[run.job] = (run, accepted[run.job]?.attempts ?? 0, order)
            case .dispatched(let job, let attempt):
                if var entry = accepted[job] {
                    entry.attempts = max(entry.attempts, attempt)
                    accepted[job] = entry
                }
            case .finished(let result):
                accepted.removeValue(forKey: result.job)
                results.append((result, order))
            }
        }
        recovered.droppedBytes = bytes.count - i
        recovered.unfinished = accepted.values.sorted { $0.order < $1.order }.map { ($0.run, $0.attempts) }
        recovered.results = results.map(\.0)
        return (recovered, i)
    }

    // MARK: Writing

    /// Adds a record to the next ``commit()``.
    package func append(_ record: JournalRecord) {
        state.withLock { record.append(to: &$0.pending) }
    }

    /// Whether records wait for ``commit()``.
    var hasPending: Bool { state.withLock { !$0.pending.isEmpty } }

    /// Writes the records appended since the last commit (and, under ``JournalSync/always``, forces them to
    /// the disk); when a compaction's snapshot has been written meanwhile, puts the new file in place. Returns
    /// whether the file now needs compacting (``beginCompaction(_:)``).
    @discardableResult
    package func commit() throws -> Bool {
        let needs = try writePending()
        if state.withLock({ $0.compaction?.written != nil }) { try finishCompaction() }
        return needs
    }

    /// Whether a compaction is in progress.
    package var isCompacting: Bool { state.withLock { $0.compaction != nil } }

    private func writePending() throws -> Bool {
        try state.withLock { s in
            guard !s.pending.isEmpty else { return false }
            do {
                try Self.writeAll(s.fd, s.pending, path: path)
            } catch {
                // Cut a partial write off, so that the file still ends with whole records; retried next round.
                _ = ftruncate(s.fd, off_t(s.size))
                _ = lseek(s.fd, off_t(s.size), SEEK_SET)
                throw error
            }
            s.size += s.pending.count
            s.compaction?.sinceSnapshot.append(contentsOf: s.pending)
            s.pending.removeAll(keepingCapacity: s.pending.capacity <= 1 << 20)
            switch sync {
            case .always: _ = fdatasync(s.fd)
            case .interval: s.unsynced = true
            case .never: break
            }
            return s.compaction == nil && s.size > compactionThreshold && s.size > 2 * s.sizeAfterCompaction
        }
    }

    /// Starts rewriting the journal with `live` only (the records of the runs not finished and of the results
    /// kept, as they stand after the last commit): a thread of its own writes them to a temporary file and
    /// syncs it while commits go on to the journal; a later ``commit()`` appends what was committed meanwhile to
    /// the new file and renames it over the journal. If the snapshot cannot be written, the journal stays as it
    /// is (it holds everything) and the failure is logged.
    package func beginCompaction(_ live: [JournalRecord]) {
        let started = state.withLock { s -> Bool in
            guard s.compaction == nil, !s.syncerStopped else { return false }
            s.compaction = Compaction()
            return true
        }
        guard started else { return }
        let thread = Thread { [self] in
            do {
                let (fd, bytes) = try writeSnapshot(live)
                let kept = state.withLock { s -> Bool in
                    guard s.compaction != nil, !s.syncerStopped else { return false }
                    s.compaction?.written = (fd, bytes, live.count)
                    return true
                }
                if !kept {
                    Glibc.close(fd)
                    unlink(temporaryPath)
                }
            } catch {
                logger.error("journal: compaction failed, the journal stays as it is: \(error)")
                state.withLock { $0.compaction = nil }
            }
        }
        thread.name = "fp-journal-compact"
        thread.start()
    }

    /// Rewrites the journal with `live` only and waits for it (``beginCompaction(_:)`` without the thread).
    package func compact(_ live: [JournalRecord]) throws {
        try state.withLock { s in
            guard s.compaction == nil else { throw JournalError("a compaction is already in progress") }
            s.compaction = Compaction()
        }
        do {
            let (fd, bytes) = try writeSnapshot(live)
            state.withLock { $0.compaction?.written = (fd, bytes, live.count) }
        } catch {
            state.withLock { $0.compaction = nil }
            throw error
        }
        try finishCompaction()
    }

    private var temporaryPath: String { "\(path).compacting" }

    /// Writes `live` to the temporary file and syncs it; returns its descriptor (positioned at its end) and size.
    private func writeSnapshot(_ live: [JournalRecord]) throws -> (Int32, Int) {
        var bytes: [UInt8] = []
        for record in live { record.append(to: &bytes) }
        let fd = Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw JournalError("cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        do {
            try Self.writeAll(fd, bytes, path: temporaryPath)
        } catch {
            Glibc.close(fd)
            unlink(temporaryPath)
            throw error
        }
        _ = fsync(fd)
        return (fd, bytes.count)
    }

    /// Puts a written snapshot in place: appends what was committed since it was taken, renames it over the
    /// journal, and writes to it from then on.
    private func finishCompaction() throws {
        try descriptorInUse.withLock { _ in
            try state.withLock { s in
                guard let compaction = s.compaction, let written = compaction.written else { return }
                s.compaction = nil
                do {
                    try Self.writeAll(written.fd, compaction.sinceSnapshot, path: temporaryPath)
                    if sync == .always { _ = fdatasync(written.fd) }
                    guard rename(temporaryPath, path) == 0 else {
                        throw JournalError("cannot rename \(temporaryPath): \(String(cString: strerror(errno)))")
                    }
                } catch {
                    // The old journal is still whole and in place.
                    Glibc.close(written.fd)
                    unlink(temporaryPath)
                    throw error
                }
                Self.syncDirectory(directory)
                let before = s.size
                Glibc.close(s.fd)
                s.fd = written.fd
                s.size = written.bytes + compaction.sinceSnapshot.count
                s.sizeAfterCompaction = s.size
                logger.info(
                    "journal compacted from \(before >> 20) MiB to \(s.size >> 20) MiB (\(written.records) live records and \(compaction.sinceSnapshot.count >> 10) KiB written meanwhile)"
                )
            }
        }
    }

    /// Forces what was written to the disk and closes the file.
    package func close() {
        descriptorInUse.withLock { _ in closeFile() }
    }

    private func closeFile() {
        state.withLock { s in
            s.syncerStopped = true
            if let written = s.compaction?.written {
                Glibc.close(written.fd)
                unlink(temporaryPath)
            }
            s.compaction = nil
            if !s.pending.isEmpty { try? Self.writeAll(s.fd, s.pending, path: path) }
            s.pending = []
            _ = fsync(s.fd)
            Glibc.close(s.fd)
            s.fd = -1
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw JournalError("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    private static func syncDirectory(_ directory: String) {
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }

    /// Under ``JournalSync/interval``: a thread (not the cooperative pool, since it blocks on the disk) that
    /// forces the written records to the disk every ``syncInterval``.
    private func startSyncer() {
        guard sync == .interval else { return }
        let thread = Thread { [self] in
            while true {
                let stop: Bool = descriptorInUse.withLock { _ in
                    let (fd, stop): (Int32, Bool) = state.withLock { s in
                        defer { s.unsynced = false }
                        return (s.unsynced ? s.fd : -1, s.syncerStopped)
                    }
                    // Not under `state`: commits go on while the disk works.
                    if fd >= 0, !stop { _ = fdatasync(fd) }
                    return stop
                }
                if stop { return }
                Thread.sleep(forTimeInterval: Self.syncInterval)
            }
        }
        thread.name = "fp-journal-sync"
        thread.start()
    }
}

/// The journal could not be opened, read or written.
struct JournalError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

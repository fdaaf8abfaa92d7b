import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The three transports every socket test runs on.
enum Transport: String, CaseIterable, Sendable, CustomStringConvertible {
    case inproc, ipc, tcp

    var description: String { rawValue }

    /// A fresh endpoint to bind on this transport (tcp uses an ephemeral port).
    func endpoint(in directory: TemporaryDirectory) -> String {
        switch self {
        case .inproc: "inproc://test-\(UUID().uuidString)"
        case .ipc: "ipc://\(directory.path)/\(UUID().uuidString.prefix(8)).sock"
        case .tcp: "tcp://127.0.0.1:*"
        }
    }
}

/// A temporary directory removed when the value is deinitialised.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "zmqtests-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Deadlines for waiting on conditions (never fixed sleeps).
enum Deadline {
    /// Polls `condition` until it holds or `seconds` pass; returns whether it held.
    static func wait(seconds: Double = 30, _ condition: () throws -> Bool) async rethrows -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        while clock.now < end {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return try condition()
    }

    /// Runs `body` and fails with `TimedOut` if it does not finish within `seconds`.
    @discardableResult
    static func run<T: Sendable>(
        seconds: Double,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return nil
            }
            guard let first = try await group.next(), let value = first else {
                group.cancelAll()
                throw TimedOut(seconds: seconds)
            }
            group.cancelAll()
            return value
        }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "did not finish within \(seconds) s" }
}

extension Logger {
    static let test = Logger(label: "zeromq-tests")
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

extension Socket {
    /// Receives a multipart message without blocking a thread, failing after `seconds`.
    func receiveMultipart(within seconds: Double = 10, maxFrames: Int = 1024) async throws -> [[UInt8]] {
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if let message = try tryReceiveMultipart(maxFrames: maxFrames) { return message }
            if clock.now > end { throw TimedOut(seconds: seconds) }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Whether a message arrives within `seconds`.
    func receivesNothing(within seconds: Double) async throws -> Bool {
        do {
            _ = try await receiveMultipart(within: seconds)
            return false
        } catch is TimedOut {
            return true
        }
    }

    /// Sends without blocking a thread, retrying while the socket pushes back.
    func sendEventually(_ frames: [[UInt8]], within seconds: Double = 10) async throws {
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        while try !trySend(multipart: frames) {
            if clock.now > end { throw TimedOut(seconds: seconds) }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// `count` bytes in which every 4 KiB chunk differs (chunk number and seed written into it), built fast.
func patterned(count: Int, seed: UInt8) -> [UInt8] {
    let chunk = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var offset = 0
        var number: UInt32 = 0
        while offset < count {
            let length = min(chunk.count, count - offset)
            chunk.withUnsafeBufferPointer { source in
                UnsafeMutableRawPointer(buffer.baseAddress! + offset).copyMemory(
                    from: source.baseAddress!,
                    byteCount: length
                )
            }
            withUnsafeBytes(of: number.littleEndian) { tag in
                for index in 0..<min(4, length) { buffer[offset + index] = tag[index] }
            }
            number += 1
            offset += length
        }
        initialized = count
    }
}

/// A counter shared between tasks.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    var value: Int { storage.load(ordering: .relaxed) }
    func increment() { storage.add(1, ordering: .relaxed) }
}

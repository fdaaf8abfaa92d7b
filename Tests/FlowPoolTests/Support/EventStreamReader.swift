import FlowCore
import FlowPool
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Reads a server-sent-events stream (`text/event-stream`) as a browser's `EventSource` would, collecting its
/// messages as they arrive.
///
/// `@unchecked Sendable`: what the session's delegate queue and the test share is behind `state`'s mutex;
/// `session` and `task` are written once, in `init`, before the reader is handed to anyone, and only read after.
final class EventStreamReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Message: Sendable {
        var event: String
        var data: JSONValue
        /// When it arrived.
        var at: ContinuousClock.Instant
    }

    private let state = Mutex<(buffer: [UInt8], messages: [Message], status: Int?, ended: String?)>(([], [], nil, nil))
    private var session: URLSession?
    private var task: URLSessionDataTask?

    /// Opens `url`; messages then arrive in ``messages``.
    init(_ url: String) {
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 3_600
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        var request = URLRequest(url: URL(string: url)!)
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        let task = session.dataTask(with: request)
        self.session = session
        self.task = task
        task.resume()
    }

    var messages: [Message] { state.withLock { $0.messages } }
    var status: Int? { state.withLock { $0.status } }
    /// Why the stream ended, once it has.
    var ended: String? { state.withLock { $0.ended } }

    func close() {
        task?.cancel()
        session?.invalidateAndCancel()
    }

    /// Waits until `condition` holds for the messages so far.
    func until(
        seconds: Double,
        _ what: String,
        _ condition: ([Message]) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition(messages) { return }
            if let ended { throw HarnessError("the event stream ended (\(ended)) while waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw HarnessError("timed out waiting for \(what) (\(messages.count) messages)")
    }

    func urlSession(
        _ session: URLSession,
        dataTask: URLSessionDataTask,
        didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        state.withLock { $0.status = (response as? HTTPURLResponse)?.statusCode }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let now = ContinuousClock.now
        state.withLock { s in
            s.buffer.append(contentsOf: data)
            // Messages end with a blank line.
            while let end = Self.messageEnd(s.buffer) {
                let text = String(decoding: s.buffer[..<end], as: UTF8.self)
                s.buffer.removeFirst(end + 2)
                var event = "message"
                var data = ""
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                }
                guard !data.isEmpty, let value = try? JSONValue(wireText: data) else { continue }
                s.messages.append(Message(event: event, data: value, at: now))
            }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        state.withLock { $0.ended = error.map { "\($0)" } ?? "closed by the server" }
    }

    private static func messageEnd(_ buffer: [UInt8]) -> Int? {
        guard buffer.count >= 2 else { return nil }
        for i in 0..<(buffer.count - 1) where buffer[i] == 10 && buffer[i + 1] == 10 { return i }
        return nil
    }
}

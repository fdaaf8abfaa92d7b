import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What one HTTP transfer reports, in order: the response head, body pieces, then completion.
enum HTTPStreamEvent: Sendable {
    case response(status: Int, headers: [String: String])
    case data(Data)
    case completed((any Error)?)
}

/// One HTTP request whose response body is received piece by piece, as an async sequence of events.
///
/// Uses a URLSession of its own with a delegate (libcurl underneath on Linux): callbacks arrive on the
/// session's serial delegate queue, never on Swift's cooperative pool, and are handed to the consumer
/// through an `AsyncStream`. The stream's buffer is bounded by the response size limit: a body larger than
/// `maxBodyBytes` cancels the transfer.
final class HTTPStreamingTransfer: Sendable {
    let events: AsyncStream<HTTPStreamEvent>
    private let session: URLSession
    private let task: URLSessionDataTask

    init(request: URLRequest, idleTimeout: TimeInterval, totalTimeout: TimeInterval, maxBodyBytes: Int) {
        let (events, continuation) = AsyncStream<HTTPStreamEvent>.makeStream(bufferingPolicy: .unbounded)
        self.events = events
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.timeoutIntervalForResource = totalTimeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        queue.name = "flowpool.llm-http"
        let delegate = StreamingDelegate(continuation: continuation, maxBodyBytes: maxBodyBytes)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        task = session.dataTask(with: request)
    }

    /// Starts the transfer.
    func start() { task.resume() }

    /// Stops the transfer and releases the session (the events then complete).
    func cancel() {
        task.cancel()
        session.invalidateAndCancel()
    }

    /// Releases the session once the transfer is over.
    func finish() { session.finishTasksAndInvalidate() }
}

/// Forwards a data task's callbacks to an `AsyncStream`.
///
/// `@unchecked Sendable` is safe: its stored properties are immutable except `received`, which only the
/// session's serial delegate queue touches.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let continuation: AsyncStream<HTTPStreamEvent>.Continuation
    private let maxBodyBytes: Int
    private var received = 0

    init(continuation: AsyncStream<HTTPStreamEvent>.Continuation, maxBodyBytes: Int) {
        self.continuation = continuation
        self.maxBodyBytes = maxBodyBytes
    }

    func urlSession(
        _ session: URLSession,
        dataTask: URLSessionDataTask,
        didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] {
            headers[String(describing: key).lowercased()] = String(describing: value)
        }
        continuation.yield(.response(status: http?.statusCode ?? 0, headers: headers))
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        received += data.count
        if received > maxBodyBytes {
            continuation.yield(
                .completed(LLMError(.malformedResponse, "the response exceeds \(maxBodyBytes) bytes"))
            )
            continuation.finish()
            dataTask.cancel()
            return
        }
        continuation.yield(.data(data))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        continuation.yield(.completed(error))
        continuation.finish()
    }
}

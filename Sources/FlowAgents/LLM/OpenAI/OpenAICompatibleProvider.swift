import FlowCore
import Foundation
import Logging

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A model behind an OpenAI-compatible chat-completions endpoint, streamed over server-sent events.
///
/// Each request is sent with `stream: true`; text deltas are passed on as they arrive and tool calls are
/// assembled from their incremental pieces. 429 and 5xx answers are retried with exponential backoff
/// (honouring `Retry-After`) up to ``maxAttempts`` times, as long as nothing was streamed yet. Failures
/// are ``LLMError``s: `.unauthorized` (401/403), `.rateLimited`, `.serverError`, `.unreachable`,
/// `.timeout`, `.malformedResponse`, and `.truncated` when the stream ends before `data: [DONE]`.
///
/// Deltas wait for the consumer in the stream's buffer, which one response bounds: a body larger than
/// ``maxResponseBytes`` ends the request with `.malformedResponse`. The HTTP transfer runs on URLSession's
/// own delegate queue, never on Swift's cooperative pool.
///
/// ```swift
/// let provider = try OpenAICompatibleProvider.fromEnvironment()
/// for try await delta in provider.stream(ChatRequest(messages: [.user("Hello")])) { print(delta) }
/// ```
public struct OpenAICompatibleProvider: LLMProvider {
    /// The API root, such as `https://api.openai.com/v1` (`/chat/completions` is appended).
    public var baseURL: URL
    public var apiKey: String?
    public var model: String
    /// How many times a request is attempted in all (429 and 5xx are retried).
    public var maxAttempts: Int
    /// The first retry's delay; each further retry doubles it.
    public var retryBaseDelay: Duration
    /// The longest delay between attempts, `Retry-After` included.
    public var maxRetryDelay: Duration
    /// The longest wait for the next bytes of a response.
    public var idleTimeout: Duration
    /// The longest a whole response may take.
    public var totalTimeout: Duration
    /// The largest response body accepted.
    public var maxResponseBytes: Int
    /// Further HTTP headers sent with every request.
    public var extraHeaders: [String: String] = [:]
    public var logger: Logger

    public init(
        baseURL: URL,
        apiKey: String?,
        model: String,
        maxAttempts: Int = 4,
        retryBaseDelay: Duration = .milliseconds(500),
        maxRetryDelay: Duration = .seconds(20),
        idleTimeout: Duration = .seconds(60),
        totalTimeout: Duration = .seconds(300),
        maxResponseBytes: Int = 16 << 20,
        logger: Logger = Logger(label: "FlowAgents.llm")
    ) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model
        self.maxAttempts = max(1, maxAttempts)
        self.retryBaseDelay = retryBaseDelay
        self.maxRetryDelay = maxRetryDelay
        self.idleTimeout = idleTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBytes = maxResponseBytes
        self.logger = logger
    }

    /// A provider configured from `OPENAI_BASE_URL` (default `https://api.openai.com/v1`), `OPENAI_API_KEY`
    /// and `OPENAI_MODEL` (default `gpt-4o-mini`).
    ///
    /// - Throws: ``LLMError`` with code `.configuration` when the base URL is invalid, or when no API key is
    ///   set for the default (remote) base URL.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "FlowAgents.llm")
    ) throws(LLMError) -> OpenAICompatibleProvider {
        let base = environment["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        guard let url = URL(string: base ?? "https://api.openai.com/v1"), url.scheme != nil, url.host != nil else {
            throw LLMError(.configuration, "OPENAI_BASE_URL is not an absolute URL: \(base ?? "")")
        }
        let key = environment["OPENAI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if key == nil, base == nil {
            throw LLMError(.configuration, "set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, OPENAI_MODEL)")
        }
        let model = environment["OPENAI_MODEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "gpt-4o-mini"
        return OpenAICompatibleProvider(baseURL: url, apiKey: key, model: model, logger: logger)
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatDelta, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ChatDelta, any Error>.makeStream()
        let task = Task { [self] in
            do {
                try await run(request, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private var endpoint: URL { baseURL.appendingPathComponent("chat/completions") }

    private func urlRequest(_ request: ChatRequest) throws -> URLRequest {
        var urlRequest = URLRequest(url: endpoint)
        urlRequest.httpMethod = "POST"
        urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
        urlRequest.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        if let apiKey { urlRequest.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        for (name, value) in extraHeaders { urlRequest.setValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = Data(OpenAIRequestBody.make(request, model: model).jsonText.utf8)
        urlRequest.timeoutInterval = idleTimeout.seconds
        return urlRequest
    }

    private func run(
        _ request: ChatRequest,
        into continuation: AsyncThrowingStream<ChatDelta, any Error>.Continuation
    ) async throws {
        let urlRequest = try urlRequest(request)
        var attempt = 1
        while true {
            try Task.checkCancellation()
            switch try await attemptOnce(urlRequest, into: continuation) {
            case .done:
                return
            case .retry(let error, let retryAfter):
                guard attempt < maxAttempts else { throw error }
                let backoff = retryBaseDelay * (1 << min(attempt - 1, 16))
                let delay = min(maxRetryDelay, max(backoff, retryAfter ?? .zero))
                logger.warning(
                    "LLM request failed; retrying",
                    metadata: ["attempt": "\(attempt)", "delay": "\(delay)", "error": "\(error)"]
                )
                attempt += 1
                try await Task.sleep(for: delay)
            }
        }
    }

    private enum AttemptOutcome {
        case done
        case retry(LLMError, retryAfter: Duration?)
    }

    private func attemptOnce(
        _ urlRequest: URLRequest,
        into continuation: AsyncThrowingStream<ChatDelta, any Error>.Continuation
    ) async throws -> AttemptOutcome {
        let transfer = HTTPStreamingTransfer(
            request: urlRequest,
            idleTimeout: idleTimeout.seconds,
            totalTimeout: totalTimeout.seconds,
            maxBodyBytes: maxResponseBytes
        )
        return try await withTaskCancellationHandler {
            transfer.start()
            defer { transfer.finish() }
            var status = 0
            var headers: [String: String] = [:]
            var errorBody = Data()
            var parser = ServerSentEventParser()
            var assembler = ChatChunkAssembler()
            var streamed = false
            for await event in transfer.events {
                switch event {
                case .response(let s, let h):
                    status = s
                    headers = h
                case .data(let data):
                    guard (200..<300).contains(status), !isJSON(headers) else {
                        // An error body (kept up to 64 KiB), or a whole non-streamed completion.
                        let limit = (200..<300).contains(status) ? maxResponseBytes : 65_536
                        if errorBody.count < limit { errorBody.append(data.prefix(limit - errorBody.count)) }
                        continue
                    }
                    for payload in try parser.feed(data) where !assembler.isDone {
                        for delta in try assembler.consume(payload) {
                            streamed = true
                            continuation.yield(delta)
                        }
                    }
                case .completed(let error):
                    try Task.checkCancellation()
                    if let error {
                        throw transportError(error, streamed: streamed || status != 0)
                    }
                    if !(200..<300).contains(status) {
                        return try httpFailure(status: status, headers: headers, body: errorBody)
                    }
                    if isJSON(headers) {
                        // A server that ignored `stream: true` sent the whole completion at once.
                        for delta in try assembler.consume(String(decoding: errorBody, as: UTF8.self))
                            + assembler.consume("[DONE]")
                        {
                            continuation.yield(delta)
                        }
                        return .done
                    }
                    if let payload = parser.finish(), !assembler.isDone {
                        for delta in try assembler.consume(payload) { continuation.yield(delta) }
                    }
                    guard assembler.isDone else {
                        throw LLMError(
                            .truncated,
                            "the response stream ended before data: [DONE]; the answer is incomplete"
                        )
                    }
                    return .done
                }
            }
            try Task.checkCancellation()
            throw LLMError(.truncated, "the response stream ended without completing")
        } onCancel: {
            transfer.cancel()
        }
    }

    private func isJSON(_ headers: [String: String]) -> Bool {
        headers["content-type"]?.lowercased().contains("application/json") == true
    }

    private func httpFailure(status: Int, headers: [String: String], body: Data) throws -> AttemptOutcome {
        let detail = Self.errorDetail(body)
        switch status {
        case 401, 403:
            throw LLMError(
                .unauthorized,
                "the API key was rejected by \(endpoint.absoluteString); check OPENAI_API_KEY. \(detail)",
                status: status
            )
        case 429:
            return .retry(
                LLMError(.rateLimited, "rate limited by \(endpoint.absoluteString). \(detail)", status: status),
                retryAfter: Self.retryAfter(headers["retry-after"])
            )
        case 500...599:
            return .retry(
                LLMError(.serverError, "\(endpoint.absoluteString) failed. \(detail)", status: status),
                retryAfter: Self.retryAfter(headers["retry-after"])
            )
        default:
            throw LLMError(.httpStatus, "\(endpoint.absoluteString) answered \(status). \(detail)", status: status)
        }
    }

    private func transportError(_ error: any Error, streamed: Bool) -> LLMError {
        if let llm = error as? LLMError { return llm }
        let code = (error as? URLError)?.code
        switch code {
        case .timedOut?:
            return LLMError(.timeout, "no response from \(endpoint.absoluteString) within \(idleTimeout)", cause: error)
        case .cannotConnectToHost?, .cannotFindHost?, .notConnectedToInternet?, .dnsLookupFailed?:
            return LLMError(
                .unreachable,
                "cannot reach \(endpoint.absoluteString); check OPENAI_BASE_URL",
                cause: error
            )
        case .networkConnectionLost?:
            return streamed
                ? LLMError(.truncated, "the connection closed before the response was complete", cause: error)
                : LLMError(.unreachable, "the connection to \(endpoint.absoluteString) was lost", cause: error)
        default:
            return streamed
                ? LLMError(.truncated, "the response stream broke off", cause: error)
                : LLMError(.unreachable, "the request to \(endpoint.absoluteString) failed", cause: error)
        }
    }

    /// The server's error message from a JSON error body, or the body's start.
    private static func errorDetail(_ body: Data) -> String {
        let text = String(decoding: body, as: UTF8.self)
        if let message = JSONValue.parse(text)?["error"]?["message"]?.stringValue { return message }
        return String(text.prefix(200))
    }

    /// `Retry-After` as a delay: seconds, or an HTTP date.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingWhitespace, !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

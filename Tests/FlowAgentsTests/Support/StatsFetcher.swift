import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches a small text resource over HTTP (the stub server's request counters).
enum StatsFetcher {
    static func get(_ url: URL) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let task = URLSession.shared.dataTask(with: url) { data, _, error in
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume(returning: String(decoding: data ?? Data(), as: UTF8.self))
                }
            }
            task.resume()
        }
    }
}

import Synchronization

/// The state a flow's nodes share during one run: a thread-safe map of names to JSON values.
///
/// Nodes read their inputs from the store in `prep` and write their results in `post`. Every access takes
/// a short lock, so nodes of a parallel batch can use one store at once; ``update(_:_:)`` performs an atomic
/// read-modify-write so that concurrent increments lose nothing. The content is plain JSON, so a store can
/// be snapshotted, sent to another process and restored there (see ``snapshot()`` and `Codable`).
///
/// ```swift
/// let shared = SharedStore(["question": "What sold best?"])
/// shared["answer"] = "Widgets"
/// shared.update("count") { $0 = .int(($0?.intValue ?? 0) + 1) }
/// ```
public final class SharedStore: Sendable {
    private let storage: Mutex<[String: JSONValue]>

    /// Creates a store holding `values`.
    public init(_ values: [String: JSONValue] = [:]) {
        var values = values
        // Room for a typical flow's keys up front, instead of growing (and rehashing) as nodes write; a table
        // that has that room already (a parsed input object has some) is kept as it is.
        if values.capacity < values.count + 4 { values.reserveCapacity(Swift.max(values.count + 4, 8)) }
        storage = Mutex(values)
    }

    /// The value stored under `key`; assigning `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { storage.withLock { $0[key] } }
        set { storage.withLock { $0[key] = newValue } }
    }

    /// Atomically reads, changes and writes the value under `key` (`nil` when absent; set `nil` to remove).
    ///
    /// - Parameters:
    ///   - key: The value's name.
    ///   - body: Changes the value in place; runs under the store's lock, so keep it short and never await.
    /// - Returns: What `body` returns.
    @discardableResult
    public func update<R>(_ key: String, _ body: (inout JSONValue?) throws -> R) rethrows -> R {
        try storage.withLock { try body(&$0[key]) }
    }

    /// Runs `body` with exclusive access to the whole store, for changes that touch several keys at once.
    @discardableResult
    public func withValues<R>(_ body: (inout [String: JSONValue]) throws -> R) rethrows -> R {
        try storage.withLock { try body(&$0) }
    }

    /// Removes and returns the value under `key`.
    @discardableResult
    public func removeValue(forKey key: String) -> JSONValue? {
        storage.withLock { $0.removeValue(forKey: key) }
    }

    /// The names of the stored values.
    public var keys: [String] { storage.withLock { Array($0.keys) } }

    /// A copy of everything in the store.
    public func snapshot() -> [String: JSONValue] { storage.withLock { $0 } }

    /// Replaces everything in the store with `values`.
    public func restore(_ values: [String: JSONValue]) { storage.withLock { $0 = values } }
}

extension SharedStore: Codable {
    public convenience init(from decoder: any Decoder) throws {
        self.init(try [String: JSONValue](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try snapshot().encode(to: encoder)
    }
}

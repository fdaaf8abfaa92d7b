import Synchronization
import ZeroMQ

/// The coordinator's view of its allow-list: decides, per connection handshake (ZAP) and per message, what a
/// key may do, and takes a new list on ``reload()``.
///
/// Each accepted connection gets a `User-Id` of its own, `"<public key> <serial>"`: the key says who it is, the
/// serial tells its connections apart (the events-out endpoint needs that to keep its subscriptions straight).
/// Looking the key up again for every message is what makes a key removed from the list lose its open
/// connections too.
final class AccessControl: Sendable {
    let path: String
    private let list: Mutex<AllowList>
    /// Bumped by every reload that changed the list.
    let generation = Atomic<Int>(0)
    private let serial = Atomic<Int>(0)

    /// Reads the allow-list at `path`.
    /// - Throws: ``AccessError`` when it cannot be read or is not valid.
    init(path: String) throws(AccessError) {
        self.path = path
        list = Mutex(try AllowList.load(path: path))
    }

    /// Entries in the current list.
    var count: Int { list.withLock { $0.entries.count } }

    /// Reads the allow-list again. When it is not valid, the current list stays (and the error is thrown).
    /// - Returns: What changed.
    @discardableResult
    func reload() throws(AccessError) -> (
        added: [AllowList.Entry], removed: [AllowList.Entry], changed: [AllowList.Entry]
    ) {
        let fresh = try AllowList.load(path: path)
        let changes = list.withLock { current in
            defer { current = fresh }
            return fresh.changes(from: current)
        }
        if !(changes.added.isEmpty && changes.removed.isEmpty && changes.changed.isEmpty) {
            generation.add(1, ordering: .releasing)
        }
        return changes
    }

    /// The ZAP decision for a connection to `request.domain`'s endpoint.
    func decide(_ request: ZAPHandler.Request) -> ZAPHandler.Decision {
        guard let endpoint = PoolEndpoint(zapDomain: request.domain) else {
            return .deny(reason: "unknown ZAP domain \(request.domain)")
        }
        guard request.mechanism == "CURVE", let key = request.publicKey else {
            return .deny(reason: "\(request.mechanism) connections are refused: this pool uses CURVE keys")
        }
        guard let entry = list.withLock({ $0.entry(forKey: key) }) else {
            return .deny(reason: "key not in the allow-list")
        }
        guard entry.role.mayConnect(to: endpoint) else {
            return .deny(reason: "\(entry.role) key \(entry.name) may not connect to the \(endpoint) endpoint")
        }
        let number = serial.wrappingAdd(1, ordering: .relaxed).newValue
        return .allow(userId: "\(key) \(number)")
    }

    /// The entry of the key of a connection's `User-Id` (as ``decide(_:)`` made it), or nil when the key is no
    /// longer in the list (or there is no `User-Id`).
    func entry(userId: String?) -> AllowList.Entry? {
        guard let userId else { return nil }
        let key = userId.utf8.prefix(40)
        guard key.count == 40 else { return nil }
        return list.withLock { $0.entry(forKey: Substring(key)) }
    }
}

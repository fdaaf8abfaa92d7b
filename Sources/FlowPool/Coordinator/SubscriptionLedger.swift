/// Which topic prefixes each subscriber connection holds, when the events-out XPUB applies subscriptions itself
/// (`ZMQ_XPUB_MANUAL`, with keys: a subscription outside the key's namespaces must not be applied).
///
/// A manual XPUB passes up every subscription and unsubscription of every connection, and when a connection
/// closes, one unsubscription for each prefix it still held (with no `User-Id`: the connection is gone). The
/// ``EventPublisher`` wants what a verbose XPUB would say instead: a prefix when its first holder subscribes,
/// its unsubscription when its last holder leaves. The ledger translates, counting holders per prefix and
/// keeping each connection's own prefixes (connections are told apart by their `User-Id`, unique per
/// connection), so that a connection cannot unsubscribe what only others hold. It counts what libzmq keeps
/// for each connection — refused subscriptions too, since libzmq records them all the same and lists them
/// when the connection closes.
struct SubscriptionLedger {
    /// What a subscription message means for the publisher.
    enum Change: Equatable {
        /// The first holder of the prefix: tell the publisher `1 + prefix`.
        case first
        /// The last holder of the prefix is gone: tell the publisher `0 + prefix`.
        case last
        /// Nothing changes for the publisher.
        case none
    }

    /// One connection's prefixes: all it holds, and those of them that were not applied.
    private struct Connection {
        var held: Set<[UInt8]> = []
        var refused: Set<[UInt8]> = []
    }

    private var holders: [[UInt8]: Int] = [:]
    private var byConnection: [String: Connection] = [:]
    /// Connections in the order they were first seen, to forget the oldest beyond ``connectionLimit``.
    private var order: [String] = []
    private var orderHead = 0
    /// Connections remembered at most. A closed connection's entry cannot be told from a live one's (its
    /// unsubscriptions carry no `User-Id`), so the oldest are forgotten; forgetting a live one only means its
    /// later unsubscriptions count for nothing, never that it removes another's prefix.
    let connectionLimit: Int

    init(connectionLimit: Int = 100_000) {
        self.connectionLimit = connectionLimit
    }

    /// Connections remembered.
    var connections: Int { byConnection.count }

    /// Holders of `prefix`.
    func holders(of prefix: [UInt8]) -> Int { holders[prefix] ?? 0 }

    /// A connection subscribed to `prefix`.
    mutating func subscribe(_ prefix: [UInt8], connection: String) -> Change {
        if byConnection[connection] == nil {
            byConnection[connection] = Connection()
            order.append(connection)
            forgetOldest()
        }
        guard byConnection[connection]!.held.insert(prefix).inserted else { return .none }
        holders[prefix, default: 0] += 1
        return holders[prefix] == 1 ? .first : .none
    }

    /// A connection unsubscribed from `prefix`, or (`connection` nil) a closed connection's prefix is gone.
    mutating func unsubscribe(_ prefix: [UInt8], connection: String?) -> Change {
        if let connection {
            byConnection[connection]?.refused.remove(prefix)
            guard byConnection[connection]?.held.remove(prefix) != nil else { return .none }
        }
        guard let count = holders[prefix] else { return .none }
        if count <= 1 {
            holders[prefix] = nil
            return .last
        }
        holders[prefix] = count - 1
        return .none
    }

    /// Notes that the connection's subscription to `prefix` was not applied.
    mutating func refuse(_ prefix: [UInt8], connection: String) {
        byConnection[connection]?.refused.insert(prefix)
    }

    /// The prefixes of the connection that were not applied, in byte order.
    func refused(connection: String) -> [[UInt8]] {
        (byConnection[connection]?.refused ?? []).sorted { $0.lexicographicallyPrecedes($1) }
    }

    private mutating func forgetOldest() {
        while byConnection.count > connectionLimit, orderHead < order.count {
            byConnection[order[orderHead]] = nil
            orderHead += 1
        }
        if orderHead > 1024, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }
}

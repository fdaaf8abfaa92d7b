import ZeroMQ

/// Messages for the peers of one ROUTER socket that their pipes could not take yet, bounded in bytes per peer
/// and in total.
///
/// A message goes straight to the socket while its peer has nothing waiting; when the peer's pipe is full
/// (it reads slowly or not at all) it waits here, behind the peer's earlier ones, and is sent as the peer
/// reads. A peer that does not read costs at most ``peerLimit`` bytes (beyond it its messages are dropped and
/// counted) and never holds up another peer's messages, as one queue for the whole socket would.
struct PeerOutbox {
    /// What one peer has waiting.
    struct Peer {
        var messages = RingBuffer<[[UInt8]]>(capacity: 4)
        var bytes = 0
    }

    /// What became of a message.
    enum Outcome: Equatable {
        case sent
        /// Waiting for the peer's pipe to take it.
        case queued
        /// Over the peer's bound (or the total): not sent.
        case dropped
        /// The socket does not know the peer (it left).
        case unreachable
    }

    let peerLimit: Int
    let totalLimit: Int
    private(set) var peers: [[UInt8]: Peer] = [:]
    private(set) var totalBytes = 0

    init(peerLimit: Int, totalLimit: Int) {
        self.peerLimit = peerLimit
        self.totalLimit = totalLimit
    }

    /// Whether messages wait for `identity`.
    func isWaiting(_ identity: [UInt8]) -> Bool { peers[identity] != nil }

    /// Bytes waiting for `identity`.
    func bytes(for identity: [UInt8]) -> Int { peers[identity]?.bytes ?? 0 }

    /// The memory a waiting message is counted for.
    static func size(_ frames: [[UInt8]]) -> Int { frames.reduce(64) { $0 + $1.count } }

    /// Sends `frames` to `identity` on `socket` now, or queues them behind what already waits for it.
    /// - Parameter bounded: false for a message that must not be dropped and of which few wait per peer (a
    ///   replay's next batch, read only when nothing waits).
    mutating func send(_ identity: [UInt8], _ frames: [[UInt8]], on socket: Socket, bounded: Bool = true) -> Outcome {
        if peers[identity] == nil {
            do {
                if try socket.trySend(multipart: [identity] + frames) { return .sent }
            } catch {
                return .unreachable
            }
        }
        let size = Self.size(frames)
        let waiting = peers[identity]?.bytes ?? 0
        guard !bounded || (waiting + size <= peerLimit && totalBytes + size <= totalLimit) else {
            return .dropped
        }
        peers[identity, default: Peer()].messages.append(frames)
        peers[identity]!.bytes += size
        totalBytes += size
        return .queued
    }

    /// Sends what waits, peer by peer, until each peer's pipe is full. Returns the peers that turned out to be
    /// gone (what waited for them is dropped).
    mutating func flush(on socket: Socket) -> [[UInt8]] {
        var gone: [[UInt8]] = []
        for identity in Array(peers.keys) {
            do {
                while let frames = peers[identity]?.messages.first {
                    guard try socket.trySend(multipart: [identity] + frames) else { break }
                    _ = peers[identity]!.messages.popFirst()
                    let size = Self.size(frames)
                    peers[identity]!.bytes -= size
                    totalBytes -= size
                }
            } catch {
                gone.append(identity)
            }
            if peers[identity]?.messages.isEmpty == true || gone.last == identity { drop(identity) }
        }
        return gone
    }

    /// Forgets what waits for `identity`.
    mutating func drop(_ identity: [UInt8]) {
        guard let peer = peers.removeValue(forKey: identity) else { return }
        totalBytes -= peer.bytes
    }
}

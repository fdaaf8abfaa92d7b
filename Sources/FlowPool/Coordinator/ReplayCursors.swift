/// The replays being answered, per control peer, bounded in bytes per peer and in total.
///
/// A replay is read from the replay buffer one batch at a time, only while nothing else waits for its peer:
/// a peer that asks for everything and never reads costs the coordinator its cursor (a list of run keys) and
/// one batch, not a copy of the buffer.
struct ReplayCursors {
    private var cursors: [[UInt8]: [ReplayCursor]] = [:]
    private var bytes: [[UInt8]: Int] = [:]
    private(set) var totalBytes = 0
    let peerLimit: Int
    let totalLimit: Int

    init(peerLimit: Int, totalLimit: Int) {
        self.peerLimit = peerLimit
        self.totalLimit = totalLimit
    }

    var isEmpty: Bool { cursors.isEmpty }

    /// Replays in progress for `identity`.
    func count(for identity: [UInt8]) -> Int { cursors[identity]?.count ?? 0 }

    /// Bytes the replays of `identity` hold.
    func bytes(for identity: [UInt8]) -> Int { bytes[identity] ?? 0 }

    /// Starts a replay for `identity`; false when its bytes would exceed the bounds.
    mutating func start(_ cursor: ReplayCursor, for identity: [UInt8]) -> Bool {
        let size = cursor.approximateBytes
        guard bytes(for: identity) + size <= peerLimit, totalBytes + size <= totalLimit else { return false }
        cursors[identity, default: []].append(cursor)
        bytes[identity, default: 0] += size
        totalBytes += size
        return true
    }

    /// The next batch of one replay of each peer not in `busy`, as `replay_batch` frames, at most `budget`.
    mutating func nextBatches(
        from replay: ReplayBuffer,
        skipping busy: Set<[UInt8]>,
        budget: Int
    ) -> [(identity: [UInt8], frames: [[UInt8]])] {
        var out: [(identity: [UInt8], frames: [[UInt8]])] = []
        for identity in Array(cursors.keys) where out.count < budget && !busy.contains(identity) {
            guard var list = cursors[identity], !list.isEmpty else { continue }
            let before = list[0].approximateBytes
            let batch = list[0].nextBatch(from: replay)
            let after = batch.last ? 0 : list[0].approximateBytes
            if batch.last { list.removeFirst() }
            bytes[identity, default: 0] += after - before
            totalBytes += after - before
            if list.isEmpty {
                cursors.removeValue(forKey: identity)
                bytes.removeValue(forKey: identity)
            } else {
                cursors[identity] = list
            }
            out.append((identity, ControlReply.replayBatch(batch).frames))
        }
        return out
    }

    /// Forgets the replays of a peer that left.
    mutating func drop(_ identity: [UInt8]) {
        cursors.removeValue(forKey: identity)
        totalBytes -= bytes.removeValue(forKey: identity) ?? 0
    }
}

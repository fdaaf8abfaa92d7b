import FlowPool
import Foundation
import Histogram
import Logging
import Synchronization
import ZeroMQ

/// External subscribers of one phase: each its own SUB connection to the coordinator's event port,
/// subscribed to the phase's namespace batches (or, `batched: false`, to the phase's topic prefix as plain
/// events), checking every run's `seq` 1…n and its terminal event.
///
/// The sockets live on up to ``maxThreads`` loop threads of their own (subscriber n on thread n mod threads).
/// The first subscriber also records when each run's first and terminal events arrived (for the latency
/// figures).
final class EventSubscribers: Sendable {
    /// One subscriber's ledger, touched only on the loop thread until ``finish()`` returned.
    final class Slot: @unchecked Sendable {
        // Safety: `ledger` is mutated only by the socket handler on the one loop thread that owns this
        // subscriber's socket, and read only after `SocketLoop.shutdown()` joined that thread (which orders
        // those writes before the read).
        var ledger: SubscriberLedger
        let ready = Atomic<Bool>(false)
        let events = Atomic<Int>(0)
        let terminals = Atomic<Int>(0)

        init(_ ledger: SubscriberLedger) { self.ledger = ledger }
    }

    /// The most loop threads the subscribers are spread over.
    static let maxThreads = 4

    let slots: [Slot]
    private let loops: [SocketLoop]

    private init(slots: [Slot], loops: [SocketLoop]) {
        self.slots = slots
        self.loops = loops
    }

    /// Connects `count` subscribers to `endpoint` and waits until the coordinator confirmed each subscription.
    static func connect(
        count: Int,
        batched: Bool,
        endpoint: String,
        index: RunIndex,
        capacity: Int,
        receiveBuffer: Int,
        timeout: Duration,
        logger: Logger
    ) async throws -> EventSubscribers {
        let context = try Context()
        var loops: [SocketLoop] = []
        for n in 0..<max(1, min(count, maxThreads)) {
            let loop = try SocketLoop(context: context, name: "fpb-subs\(n)", batchSize: 1024, logger: logger)
            loop.start()
            loops.append(loop)
        }
        var slots: [Slot] = []
        do {
            for n in 0..<count {
                let slot = Slot(SubscriberLedger(recordsTimes: n == 0, capacity: capacity))
                slots.append(slot)
                let socket = try Socket(context, .sub)
                try BenchKeys.secure(socket)
                try socket.set(.receiveHighWaterMark(Int32(clamping: receiveBuffer)))
                try socket.connect(endpoint)
                if batched {
                    // The namespace's batches; events of other phases' runs are skipped by their topic.
                    let namespace = index.topicPrefix.prefix { $0 != UInt8(ascii: "/") }
                    try socket.set(.subscribe(EventBatch.subscriberTopicPrefix + namespace + [UInt8(ascii: "/")]))
                } else {
                    try socket.set(.subscribe(index.topicPrefix))
                }
                let sync = Array("\u{0}sync/\(index.token)s\(n)".utf8)
                try socket.set(.subscribe(sync))
                let prefix = index.topicPrefix
                _ = try loops[n % loops.count].add(socket, maxFrames: 2) { frames, _ in
                    Self.handle(frames, slot: slot, prefix: prefix)
                }
            }
            let deadline = ContinuousClock.now + timeout
            while !slots.allSatisfy({ $0.ready.load(ordering: .acquiring) }) {
                guard ContinuousClock.now < deadline else {
                    throw BenchError(
                        .timeout,
                        "the coordinator did not confirm \(count) subscriptions within \(timeout)"
                    )
                }
                try await Task.sleep(for: .milliseconds(5))
            }
        } catch {
            for loop in loops { await loop.shutdown() }
            throw error
        }
        return EventSubscribers(slots: slots, loops: loops)
    }

    /// Events received, summed over subscribers.
    var eventsReceived: Int { slots.reduce(0) { $0 + $1.events.load(ordering: .relaxed) } }

    /// Terminal events received by the subscriber that saw the fewest.
    var minTerminals: Int { slots.map { $0.terminals.load(ordering: .relaxed) }.min() ?? 0 }

    /// Stops the loop; afterwards ``slots``' ledgers are final.
    func finish() async {
        for loop in loops { await loop.shutdown() }
    }

    private static func handle(_ frames: [[UInt8]], slot: Slot, prefix: [UInt8]) {
        guard frames.count == 2 else {
            slot.ledger.malformed += 1
            return
        }
        let first = frames[0].first
        if first == 0 {
            slot.ready.store(true, ordering: .releasing)
            return
        }
        let now = MonotonicClock.now()
        frames[0].withUnsafeBufferPointer { topic in
            frames[1].withUnsafeBufferPointer { body in
                guard first == 1 else {
                    handleEvent(topic: topic, envelope: body, at: now, slot: slot, prefix: prefix)
                    return
                }
                // A batch: u32 LE topic length, topic, u32 LE envelope length, envelope; repeated.
                var i = 0
                while i < body.count {
                    guard let topicLength = length(body, at: i),
                        let envelopeLength = length(body, at: i + 4 + topicLength),
                        i + 8 + topicLength + envelopeLength <= body.count
                    else {
                        slot.ledger.malformed += 1
                        return
                    }
                    let topicStart = i + 4
                    let envelopeStart = topicStart + topicLength + 4
                    let eventTopic = UnsafeBufferPointer(rebasing: body[topicStart..<(topicStart + topicLength)])
                    i = envelopeStart + envelopeLength
                    guard eventTopic.starts(with: prefix) else { continue }
                    let envelope = UnsafeBufferPointer(rebasing: body[envelopeStart..<i])
                    handleEvent(topic: eventTopic, envelope: envelope, at: now, slot: slot, prefix: prefix)
                }
            }
        }
    }

    private static func length(_ body: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        guard i >= 0, i + 4 <= body.count else { return nil }
        return Int(body[i]) | Int(body[i + 1]) << 8 | Int(body[i + 2]) << 16 | Int(body[i + 3]) << 24
    }

    private static func handleEvent(
        topic t: UnsafeBufferPointer<UInt8>,
        envelope e: UnsafeBufferPointer<UInt8>,
        at now: UInt64,
        slot: Slot,
        prefix: [UInt8]
    ) {
        let prefixCount = prefix.count
        let parsed: (run: Int, terminal: Bool)? = {
            guard let run = RunIndex.read(t, at: prefixCount) else { return nil }
            let typeStart = prefixCount + RunIndex.digits + 1
            guard t.count > typeStart else { return nil }
            let type = UnsafeBufferPointer(rebasing: t[typeStart...])
            return (run, isTerminal(type))
        }()
        let recordsTimes = slot.ledger.recordsTimes
        let numbers: (attempt: Int, seq: Int, ts: Double?)? = {
            // FlowPool writes `{"v":1,"ns":"<ns>","run":"<run>","attempt":…`: try the attempt's known
            // position first (the topic gives the names' lengths), else search for the keys.
            let known = 13 + (prefixCount + RunIndex.digits - 1) + 11 + attemptKey.count
            guard let a = integer(after: attemptKey, in: e, at: known) ?? integer(after: attemptKey, in: e, from: 0),
                let s = integer(after: seqKey, in: e, at: a.end + 1 + seqKey.count)
                    ?? integer(after: seqKey, in: e, from: a.end)
            else { return nil }
            var ts: Double?
            if recordsTimes, s.value == 1 || parsed?.terminal == true {
                ts = timestamp(in: e, from: s.end)
            }
            return (a.value, s.value, ts)
        }()
        guard let parsed, let numbers else {
            slot.ledger.malformed += 1
            return
        }
        slot.ledger.record(
            run: parsed.run,
            attempt: numbers.attempt,
            seq: numbers.seq,
            terminal: parsed.terminal,
            at: now
        )
        if let ts = numbers.ts {
            let delay = wallClock() - ts
            if delay > 0 { _ = slot.ledger.transit.record(UInt64(min(delay, 600) * 1e9)) }
        }
        slot.events.add(1, ordering: .relaxed)
        if parsed.terminal { slot.terminals.add(1, ordering: .relaxed) }
    }

    private static let tsKey = Array("\"ts\":".utf8)

    /// The envelope's `ts` (seconds since 1970), searched from `start`.
    private static func timestamp(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Double? {
        let n = tsKey.count
        var i = start
        while i <= bytes.count - n {
            if bytes[i] == tsKey[0], tsKey.indices.allSatisfy({ bytes[i + $0] == tsKey[$0] }) {
                return number(in: bytes, at: i + n)
            }
            i += 1
        }
        return nil
    }

    /// The JSON number at `start`: digits, a fraction (as workers write `ts`) read directly, any other form
    /// through `Double(_:)`.
    private static func number(in bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Double? {
        func digit(_ p: Int) -> UInt64? {
            guard p < bytes.count, bytes[p] >= UInt8(ascii: "0"), bytes[p] <= UInt8(ascii: "9") else { return nil }
            return UInt64(bytes[p] - UInt8(ascii: "0"))
        }
        var p = start
        var whole: UInt64 = 0
        while let d = digit(p), p - start < 15 {
            whole = whole * 10 + d
            p += 1
        }
        var fraction: UInt64 = 0
        var scale = 1.0
        if p > start, p < bytes.count, bytes[p] == UInt8(ascii: ".") {
            p += 1
            while let d = digit(p), scale < 1e15 {
                fraction = fraction * 10 + d
                scale *= 10
                p += 1
            }
        }
        if p > start, p == bytes.count || bytes[p] == UInt8(ascii: ",") || bytes[p] == UInt8(ascii: "}") {
            return Double(whole) + Double(fraction) / scale
        }
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: ","), bytes[end] != UInt8(ascii: "}") { end += 1 }
        return Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
    }

    /// Seconds since 1970, as workers stamp events.
    private static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private static let attemptKey = Array("\"attempt\":".utf8)
    private static let seqKey = Array("\"seq\":".utf8)
    private static let terminalTypes = ["final", "error", "cancelled"].map { Array($0.utf8) }

    private static func isTerminal(_ type: UnsafeBufferPointer<UInt8>) -> Bool {
        terminalTypes.contains { $0.elementsEqual(type) }
    }

    /// The non-negative integer at `position` when `key` ends right there, and where it ends.
    private static func integer(
        after key: [UInt8],
        in bytes: UnsafeBufferPointer<UInt8>,
        at position: Int
    )
        -> (value: Int, end: Int)?
    {
        let start = position - key.count
        guard start >= 0, position < bytes.count else { return nil }
        for k in 0..<key.count where bytes[start + k] != key[k] { return nil }
        var p = position
        var v = 0
        while p < bytes.count, bytes[p] >= 48, bytes[p] <= 57 {
            v = v * 10 + Int(bytes[p] - 48)
            p += 1
        }
        return p > position ? (v, p) : nil
    }

    /// The non-negative integer following `key` in `bytes` (searching from `start`), and where it ends.
    private static func integer(
        after key: [UInt8],
        in bytes: UnsafeBufferPointer<UInt8>,
        from start: Int
    )
        -> (value: Int, end: Int)?
    {
        let n = key.count
        guard bytes.count >= n else { return nil }
        var i = start
        while i <= bytes.count - n {
            if bytes[i] == key[0] {
                var match = true
                for k in 1..<n where bytes[i + k] != key[k] {
                    match = false
                    break
                }
                if match {
                    var p = i + n
                    var v = 0
                    var digits = 0
                    while p < bytes.count, bytes[p] >= 48, bytes[p] <= 57 {
                        v = v * 10 + Int(bytes[p] - 48)
                        p += 1
                        digits += 1
                    }
                    return digits > 0 ? (v, p) : nil
                }
            }
            i += 1
        }
        return nil
    }
}

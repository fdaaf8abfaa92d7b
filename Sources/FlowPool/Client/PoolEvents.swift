import FlowCore
import Synchronization
import ZeroMQ

extension PoolClient {
    /// Subscribes to the pool's events that match a pattern.
    ///
    /// Returns once the subscription is active at the coordinator (a run submitted afterwards is seen from
    /// its first event). Each run's events arrive once and in order, from its first event: when the local
    /// buffer or the coordinator's high-water mark drops some, the gap (or the run's beginning, for a run
    /// first seen past `seq` 1) is fetched from the coordinator's replay buffer before later events of that
    /// run are delivered (see ``PoolEvents/statistics``); a run whose last events were dropped is completed
    /// from replay once it has made no progress for about half a second. A run of which every event was dropped stays
    /// unseen; ``PoolClient/replay(pattern:ranges:lastRuns:)`` has it.
    ///
    /// - Parameters:
    ///   - pattern: `ns`, `ns/run` or `prefix*`, as in process.
    ///   - fromStart: Deliver the stored history of matching runs first, then live events, without gap or
    ///     duplicate.
    ///   - historyRuns: With `fromStart`, the history of only the newest this many stored runs (nil: all). A run
    ///     left out whose events go on arrives whole all the same (its beginning is fetched from replay).
    ///   - bufferSize: Messages buffered locally before new ones are dropped (and later repaired).
    ///   - repairGaps: Fetch missing events from the replay buffer (on by default).
    ///   - batched: Take the events in per-namespace batches when the pattern selects whole namespaces
    ///     (`ns`, `prefix*`, `*`): far fewer messages, the same events in the same order. `false` takes one
    ///     message per event. Run-level patterns always take plain events.
    public func events(
        matching pattern: String,
        fromStart: Bool = false,
        historyRuns: Int? = nil,
        bufferSize: Int = 100_000,
        repairGaps: Bool = true,
        batched: Bool = true
    ) async throws -> PoolEvents {
        let parsed = try SubscriptionPattern(pattern)
        let prefix = Array(parsed.topicPrefix.utf8)
        let useBatches = batched && PoolEvents.selectsWholeNamespaces(prefix)
        let (connection, inbox, early, syncTopic) = try await openSubscription(
            prefix: useBatches ? EventBatch.subscriberTopicPrefix + prefix : prefix,
            pattern: parsed,
            bufferSize: bufferSize
        )
        // Every half second the subscription asks the coordinator to echo this topic again; each echo makes
        // the iterator look for runs whose last events were dropped (``EventSequencer/tailChecks()``).
        let tickTopic = syncTopic + Array("-tick".utf8)
        if repairGaps {
            let handle = connection.handle
            try await loop.perform { io in try io.socket(handle)?.set(.subscribe(tickTopic)) }
        }
        var sequencer = EventSequencer(repairPrefix: repairGaps)
        var initial: [WireEvent] = []
        if fromStart {
            let history = try await replay(pattern: parsed.description, lastRuns: historyRuns)
            initial = sequencer.history(history)
        }
        let events = PoolEvents(
            inbox: inbox,
            connection: connection,
            loop: loop,
            control: control,
            repairTimeout: requestTimeout,
            repairGaps: repairGaps,
            initial: initial,
            early: early,
            sequencer: sequencer,
            topicPrefix: prefix,
            tickTopic: repairGaps ? tickTopic : nil,
            name: String(decoding: syncTopic.dropFirst(CoordinatorEngine.syncPrefix.count), as: UTF8.self),
            pattern: parsed.description
        )
        events.stats.value.withLock { $0 = sequencer.statistics }
        return events
    }
}

extension PoolClient {
    /// Opens a SUB socket on the events-out endpoint subscribed to `prefix`, and returns once the coordinator has
    /// applied the subscription (the echo of a `\0sync/` topic subscribed after it), with the messages that arrived
    /// before the echo.
    /// - Throws: ``PoolError`` `rejected` (`forbidden`) when the coordinator did not apply the subscription;
    ///   `timeout`; `closed`.
    func openSubscription(
        prefix: [UInt8],
        pattern: SubscriptionPattern,
        bufferSize: Int
    ) async throws -> (
        connection: SubscriptionConnection, inbox: InboundMessages, early: [[[UInt8]]], syncTopic: [UInt8]
    ) {
        var generator = SystemRandomNumberGenerator()
        let token: UInt64 = generator.next()
        let syncTopic = CoordinatorEngine.syncPrefix + Array(String(token, radix: 36).utf8)
        let socket = try Socket(context, .sub)
        try keys?.secure(socket)
        try socket.set(.receiveHighWaterMark(Int32(clamping: bufferSize)))
        try socket.set(.reconnectInterval(100))
        let eventsOut = endpoint(port: welcome.eventsOutPort)
        try socket.connect(eventsOut)
        // Pattern first, then the handshake topic: the coordinator sees them in this order (subscriptions made
        // before the connection would be sent in the order of their bytes).
        try socket.set(.subscribe(prefix))
        try socket.set(.subscribe(syncTopic))
        let (connection, inbox) = try SubscriptionConnection.open(
            socket,
            endpoint: eventsOut,
            loop: loop,
            policy: .dropNewest(capacity: bufferSize),
            maxFrames: 2,
            outboundCapacity: 16,
            logger: logger
        )
        // Wait for the echo of the handshake topic; keep live events that arrive meanwhile.
        let early: [[[UInt8]]]
        do {
            early = try await waitForEcho(of: syncTopic, on: inbox, pattern: pattern)
        } catch {
            connection.close()
            throw error
        }
        return (connection, inbox, early, syncTopic)
    }

    /// The messages that arrive before the echo of `syncTopic`, once it has arrived.
    private func waitForEcho(
        of syncTopic: [UInt8],
        on inbox: InboundMessages,
        pattern: SubscriptionPattern
    ) async throws -> [[[UInt8]]] {
        try await withTimeout(requestTimeout, what: "subscription handshake") {
            var iterator = inbox.makeAsyncIterator()
            var early: [[[UInt8]]] = []
            while let frames = await iterator.next() {
                if frames.first == syncTopic {
                    // A pool with keys names the subscriptions it did not apply (outside this key's namespaces).
                    if frames.count == 2, let echo = try? JSONValue(wireBytes: frames[1]),
                        case .array(let refused)? = echo["refused"], !refused.isEmpty
                    {
                        let batch = String(decoding: EventBatch.subscriberTopicPrefix, as: UTF8.self)
                        let prefixes = refused.compactMap(\.stringValue).map {
                            $0.hasPrefix(batch) ? String($0.dropFirst(batch.count)) : $0.filter { $0 >= " " }
                        }
                        throw PoolError(
                            .rejected,
                            "the coordinator did not apply the subscription \(prefixes.joined(separator: ", ")) (pattern \(pattern.description)): it is outside this key's namespaces",
                            remoteCode: .forbidden
                        )
                    }
                    return early
                }
                early.append(frames)
            }
            throw PoolError(.closed, "the subscription closed during the handshake")
        }
    }
}

/// The events of a pool subscription, as an `AsyncSequence` of ``/FlowCore/StreamEvent`` (single consumer).
///
/// ``AsyncIterator/nextWireEvent()`` also gives each event's attempt. ``statistics`` counts what was received,
/// repaired and lost; ``close()`` ends the sequence.
public struct PoolEvents: AsyncSequence, Sendable {
    public typealias Element = StreamEvent
    public typealias Failure = Never

    let inbox: InboundMessages
    let connection: SubscriptionConnection
    let loop: SocketLoop
    let control: ControlConnection
    let repairTimeout: Duration
    let repairGaps: Bool
    let initial: [WireEvent]
    let early: [[[UInt8]]]
    let sequencer: EventSequencer
    /// The pattern's topic prefix; events of a batch that do not start with it are skipped.
    let topicPrefix: [UInt8]
    /// The echo topic that triggers tail checks, when gaps are repaired.
    let tickTopic: [UInt8]?
    let stats = StatisticsBox()
    let ticker: Ticker

    /// While the subscription lives: re-subscribes to the tick topic every `interval` (when gaps are
    /// repaired), and every `reportEvery` intervals tells the coordinator what the subscription received and
    /// missed (`subscriber_report`, shown by `flowpool status`).
    final class Ticker: Sendable {
        let task = Mutex<Task<Void, Never>?>(nil)

        func start(
            loop: SocketLoop,
            handle: SocketLoop.SocketHandle,
            topic: [UInt8]?,
            interval: Duration,
            reportEvery: Int,
            report: @escaping @Sendable () async -> Void
        ) {
            let task = Task {
                var ticks = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    let alive = try? await loop.perform { io -> Bool in
                        guard let socket = io.socket(handle) else { return false }
                        if let topic { try socket.set(.subscribe(topic)) }
                        return true
                    }
                    if alive != true { return }
                    ticks += 1
                    if ticks % reportEvery == 0 { await report() }
                }
            }
            self.task.withLock { $0 = task }
        }

        func stop() { task.withLock { $0?.cancel() } }

        deinit { task.withLock { $0?.cancel() } }
    }

    init(
        inbox: InboundMessages,
        connection: SubscriptionConnection,
        loop: SocketLoop,
        control: ControlConnection,
        repairTimeout: Duration,
        repairGaps: Bool,
        initial: [WireEvent],
        early: [[[UInt8]]],
        sequencer: EventSequencer,
        topicPrefix: [UInt8],
        tickTopic: [UInt8]?,
        name: String,
        pattern: String
    ) {
        self.inbox = inbox
        self.connection = connection
        self.loop = loop
        self.control = control
        self.repairTimeout = repairTimeout
        self.repairGaps = repairGaps
        self.initial = initial
        self.early = early
        self.sequencer = sequencer
        self.topicPrefix = topicPrefix
        self.tickTopic = tickTopic
        self.ticker = Ticker()
        let stats = self.stats
        ticker.start(
            loop: loop,
            handle: connection.handle,
            topic: tickTopic,
            interval: .milliseconds(500),
            reportEvery: 4
        ) {
            let s = stats.value.withLock { $0 }
            let report = SubscriberReport(
                id: control.makeId(),
                subscriber: name,
                pattern: pattern,
                host: ProcessInfoLite.hostName,
                pid: ProcessInfoLite.pid,
                received: s.received,
                delivered: s.delivered,
                gaps: s.gaps,
                repaired: s.repaired,
                lost: s.lost,
                bufferDrops: inbox.droppedCount
            )
            // A coordinator that predates the report answers unknown_op: nothing to do about it.
            _ = try? await control.send(.subscriberReport(report), timeout: repairTimeout)
        }
    }

    /// How many events of stored history (`fromStart`) the sequence delivers before the live ones.
    public var historyCount: Int { initial.count }

    /// Whether a topic prefix selects whole namespaces (no `/` before its end), so that the namespaces'
    /// batches carry exactly what it selects.
    static func selectsWholeNamespaces(_ prefix: [UInt8]) -> Bool {
        guard let slash = prefix.firstIndex(of: UInt8(ascii: "/")) else { return true }
        return slash == prefix.count - 1
    }

    /// What the subscription received, repaired and lost so far.
    public var statistics: SubscriberStatistics {
        var s = stats.value.withLock { $0 }
        s.bufferDrops = inbox.droppedCount
        return s
    }

    /// Ends the subscription; the iterator returns nil after what is buffered.
    public func close() {
        ticker.stop()
        connection.close()
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }

    /// The same events with their envelope: each ``WireEvent`` carries the pool's `attempt` of its run besides the
    /// ``/FlowCore/StreamEvent`` (a run dispatched again shows its new attempt's events as such).
    ///
    /// ```swift
    /// for await e in events.withAttempts { print(e.attempt, e.event.type) }
    /// ```
    public var withAttempts: WithAttempts { WithAttempts(events: self) }

    /// ``PoolEvents`` as ``WireEvent``s (``withAttempts``).
    public struct WithAttempts: AsyncSequence, Sendable {
        public typealias Element = WireEvent
        public typealias Failure = Never
        let events: PoolEvents

        public func makeAsyncIterator() -> Iterator { Iterator(base: events.makeAsyncIterator()) }

        public struct Iterator: AsyncIteratorProtocol {
            var base: PoolEvents.AsyncIterator
            public mutating func next() async -> WireEvent? { await base.nextWireEvent() }
        }
    }

    final class StatisticsBox: Sendable {
        let value = Mutex(SubscriberStatistics())
    }

    /// Iterates over ``PoolEvents``.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private let events: PoolEvents
        private var inbox: InboundMessages.AsyncIterator
        private var sequencer: EventSequencer
        private var ready: [WireEvent]
        private var readyIndex = 0
        private var early: [[[UInt8]]]
        private var earlyIndex = 0
        private var invalid = 0
        private var batches = 0
        private var tailCheckRounds = 0
        /// Events of the message being taken apart (one, or a batch's).
        private var raw: [RawEvent] = []
        private var rawIndex = 0

        init(_ events: PoolEvents) {
            self.events = events
            self.inbox = events.inbox.makeAsyncIterator()
            self.sequencer = events.sequencer
            self.ready = events.initial
            self.early = events.early
        }

        public mutating func next() async -> StreamEvent? { await nextWireEvent()?.event }

        /// The next event with its attempt, or nil when the subscription ended.
        public mutating func nextWireEvent() async -> WireEvent? {
            while readyIndex == ready.count {
                ready = []
                readyIndex = 0
                guard let next = await nextRaw() else { return nil }
                if next.topic.first == 0 {
                    // The tick echo: fetch the tails of runs that stopped short of their terminal event.
                    ready = await fetchTails(sequencer.tailChecks())
                    tailCheckRounds += 1
                    publishStatistics()
                    continue
                }
                let event: WireEvent
                do {
                    event = try WireEvent.decode(topic: next.topic, envelope: next.envelope)
                } catch {
                    invalid += 1
                    continue
                }
                let (deliver, repair) = sequencer.live(event)
                ready = deliver
                if let repair, events.repairGaps {
                    ready += await fetch(repair)
                }
                publishStatistics()
            }
            defer { readyIndex += 1 }
            return ready[readyIndex]
        }

        /// The next event's frames: from the batch being taken apart, else from the next message.
        private mutating func nextRaw() async -> RawEvent? {
            while rawIndex == raw.count {
                raw = []
                rawIndex = 0
                let frames: [[UInt8]]
                if earlyIndex < early.count {
                    frames = early[earlyIndex]
                    earlyIndex += 1
                } else {
                    guard let next = await inbox.next() else { return nil }
                    frames = next
                }
                guard frames.count == 2, let first = frames[0].first else { continue }
                if first == 0 {
                    if let tick = events.tickTopic, frames[0] == tick { return RawEvent(topic: tick, envelope: []) }
                    continue
                }
                if first == 1 {
                    guard frames[0].starts(with: EventBatch.subscriberTopicPrefix),
                        let unpacked = try? EventBatch.unpack(frames[1])
                    else {
                        invalid += 1
                        continue
                    }
                    batches += 1
                    raw = unpacked.filter { $0.topic.starts(with: events.topicPrefix) }
                } else {
                    raw = [RawEvent(topic: frames[0], envelope: frames[1])]
                }
            }
            defer { rawIndex += 1 }
            return raw[rawIndex]
        }

        private mutating func fetch(_ range: ReplayRange) async -> [WireEvent] {
            let request = ReplayRequest(id: events.control.makeId(), ranges: [range])
            do {
                let replay = try await events.control.replay(request, timeout: events.repairTimeout)
                let fetched = replay.events.compactMap { try? $0.decode() }
                return sequencer.replayed(fetched, for: range)
            } catch {
                return sequencer.repairFailed(range)
            }
        }

        private mutating func fetchTails(_ ranges: [ReplayRange]) async -> [WireEvent] {
            guard !ranges.isEmpty else { return [] }
            let request = ReplayRequest(id: events.control.makeId(), ranges: ranges)
            guard let replay = try? await events.control.replay(request, timeout: events.repairTimeout) else {
                return []
            }
            var byRun: [String: [WireEvent]] = [:]
            for raw in replay.events {
                guard let e = try? raw.decode() else { continue }
                byRun["\(e.event.namespace)/\(e.event.runId)", default: []].append(e)
            }
            var out: [WireEvent] = []
            for range in ranges {
                guard let found = byRun["\(range.namespace)/\(range.runId)"] else { continue }
                out += sequencer.tailReplayed(found, for: range)
            }
            return out
        }

        private func publishStatistics() {
            var s = sequencer.statistics
            s.invalid = invalid
            s.batches = batches
            s.tailCheckRounds = tailCheckRounds
            events.stats.value.withLock { $0 = s }
        }
    }
}

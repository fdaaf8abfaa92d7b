import FlowCore
import ZeroMQ

extension PoolClient {
    /// Subscribes to the event batches of the namespaces a pattern selects, undecoded: the cheapest way to follow a
    /// busy namespace, for a consumer that looks at every event's topic but decodes only some envelopes (a view
    /// that samples).
    ///
    /// Returns once the subscription is active at the coordinator. Unlike ``events(matching:fromStart:historyRuns:bufferSize:repairGaps:batched:)``
    /// nothing is ordered, deduplicated or repaired: each message is what the coordinator published, and what its
    /// high-water mark or the local buffer dropped is gone (``PoolEventBatches/droppedCount`` counts the local
    /// drops). Within a namespace the events come in the order the coordinator forwarded them.
    ///
    /// - Parameters:
    ///   - pattern: `ns` or `prefix*` (a pattern of whole namespaces; `ns/run` is refused).
    ///   - bufferSize: Batches (of up to 128 events each) buffered locally before new ones are dropped.
    /// - Throws: ``PoolError`` `invalid_argument` for a run-level pattern; `rejected` (`forbidden`) outside this
    ///   key's namespaces; `timeout`.
    public func eventBatches(matching pattern: String, bufferSize: Int = 4_096) async throws -> PoolEventBatches {
        let parsed = try SubscriptionPattern(pattern)
        let prefix = Array(parsed.topicPrefix.utf8)
        guard PoolEvents.selectsWholeNamespaces(prefix) else {
            throw PoolError(.invalidArgument, "event batches select whole namespaces: \(pattern) names a run")
        }
        let (connection, inbox, early, _) = try await openSubscription(
            prefix: EventBatch.subscriberTopicPrefix + prefix,
            pattern: parsed,
            bufferSize: bufferSize
        )
        return PoolEventBatches(inbox: inbox, connection: connection, early: early)
    }
}

/// The event batches of a subscription (``PoolClient/eventBatches(matching:bufferSize:)``), as an `AsyncSequence`
/// (single consumer); ``close()`` ends it.
public struct PoolEventBatches: AsyncSequence, Sendable {
    public typealias Element = PackedEvents
    public typealias Failure = Never

    let inbox: InboundMessages
    let connection: SubscriptionConnection
    let early: [[[UInt8]]]

    /// Batches the local buffer dropped (it was full).
    public var droppedCount: Int { inbox.droppedCount }

    /// Ends the subscription; the iterator returns nil after what is buffered.
    public func close() { connection.close() }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        private var inbox: InboundMessages.AsyncIterator
        private let early: [[[UInt8]]]
        private var earlyIndex = 0

        init(_ batches: PoolEventBatches) {
            inbox = batches.inbox.makeAsyncIterator()
            early = batches.early
        }

        public mutating func next() async -> PackedEvents? {
            while true {
                let frames: [[UInt8]]
                if earlyIndex < early.count {
                    frames = early[earlyIndex]
                    earlyIndex += 1
                } else {
                    guard let next = await inbox.next() else { return nil }
                    frames = next
                }
                guard frames.count == 2, frames[0].starts(with: EventBatch.subscriberTopicPrefix) else { continue }
                return PackedEvents(body: frames[1])
            }
        }
    }
}

/// The events of one published batch, packed as on the wire (docs/PROTOCOL.md, "Batched delivery").
public struct PackedEvents: Sendable {
    /// The packed events: for each, a little-endian `UInt32` topic length, the topic, a little-endian `UInt32`
    /// envelope length and the envelope.
    public let body: [UInt8]

    public init(body: [UInt8]) { self.body = body }

    /// Calls `visit` with each event's topic and envelope, borrowed from ``body`` (no copies), in one pass; a
    /// record whose lengths run past the end stops it (the coordinator never publishes one).
    public func forEachEvent(_ visit: (_ topic: UnsafeRawBufferPointer, _ envelope: UnsafeRawBufferPointer) -> Void) {
        body.withUnsafeBytes { packed in
            var i = 0
            while i + 4 <= packed.count {
                let envelopeAt = i + 4 + EventBatch.length(packed, at: i)
                guard envelopeAt + 4 <= packed.count else { return }
                let end = envelopeAt + 4 + EventBatch.length(packed, at: envelopeAt)
                guard end <= packed.count else { return }
                visit(
                    UnsafeRawBufferPointer(rebasing: packed[(i + 4)..<envelopeAt]),
                    UnsafeRawBufferPointer(rebasing: packed[(envelopeAt + 4)..<end])
                )
                i = end
            }
        }
    }
}

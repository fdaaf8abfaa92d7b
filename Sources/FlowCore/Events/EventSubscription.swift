/// A live stream of the events that match one pattern, as an `AsyncSequence`.
///
/// Iterate it with `for await`. It is single-pass: the subscription ends when its iteration ends (the loop
/// exits or the iterating task is cancelled), when ``cancel()`` is called, or when the subscription and its
/// iterator are gone. Events that arrive faster than they are consumed fill a bounded buffer; beyond it the
/// oldest non-terminal events are dropped and counted in ``droppedCount`` (a gap in `seq` shows where).
///
/// Runs hand their events over in batches, but never hold them back from an idle subscriber: an event
/// reaches an iteration that is waiting for events at once, whatever the emitting node does next. A run
/// flushes at its first and terminal events, every 32 events, and whenever a subscriber waits; an iteration
/// that runs out of events yields a few times (taking what runs flushed meanwhile) and then, before it
/// sleeps, collects what runs have staged.
///
/// ```swift
/// let events = try EventStreamer.shared.subscribe("sales_agent")
/// for await event in events where event.type == .final { print(event.content) }
/// ```
public final class EventSubscription: AsyncSequence, Sendable {
    public typealias Element = StreamEvent
    public typealias Failure = Never

    let buffer: SubscriptionBuffer

    init(buffer: SubscriptionBuffer) {
        self.buffer = buffer
    }

    deinit { buffer.cancel() }

    /// The pattern this subscription matches.
    public var pattern: SubscriptionPattern { buffer.pattern }
    /// How many events matched but were dropped because the buffer was full.
    public var droppedCount: Int { buffer.dropped }
    /// How many of the dropped events were terminal (only when the buffer held nothing else).
    public var droppedTerminalCount: Int { buffer.droppedTerminal }
    /// How many matching events arrived, dropped or not.
    public var receivedCount: UInt64 { buffer.received }
    /// The most events held at once.
    public var bufferSize: Int { buffer.capacity }

    /// Ends the subscription; an iteration in progress returns what is pending and then stops.
    public func cancel() { buffer.cancel() }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(lifetime: IterationLifetime(subscription: self))
    }

    /// Returns events one by one from batches taken from the buffer.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = StreamEvent
        public typealias Failure = Never

        private static let yieldsBeforeWaiting = 4
        @usableFromInline let lifetime: IterationLifetime
        @usableFromInline var batch: [StreamEvent?] = []
        @usableFromInline var index = 0

        init(lifetime: IterationLifetime) {
            self.lifetime = lifetime
        }

        @inlinable
        public mutating func next() async -> StreamEvent? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index].take()
            }
            return await refill(isolation: nil)
        }

        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async -> StreamEvent? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index].take()
            }
            return await refill(isolation: actor)
        }

        @usableFromInline
        mutating func refill(isolation actor: isolated (any Actor)?) async -> StreamEvent? {
            batch.removeAll(keepingCapacity: true)
            index = 0
            var yields = 0
            lifetime.buffer.collectStagedIfDue()
            while true {
                switch lifetime.buffer.take(&batch) {
                case .events(let start):
                    index = start + 1
                    return batch[start].take()
                case .finished:
                    return nil
                case .empty where yields < Self.yieldsBeforeWaiting:
                    // Let the producers run a little before going to sleep: events that arrive meanwhile
                    // are taken as one batch, and the producers are spared a wake-up per event. Staged
                    // events are collected just before sleeping (see `waitForEvents`).
                    yields += 1
                    await Task.yield()
                case .empty:
                    yields = 0
                    await lifetime.buffer.waitForEvents()
                }
            }
        }
    }
}

/// Ends the subscription when the iterator that owns it goes away.
@usableFromInline
///
/// It also keeps the subscription alive, so that `for await event in try streamer.subscribe(…)` works.
final class IterationLifetime: Sendable {
    let subscription: EventSubscription
    var buffer: SubscriptionBuffer { subscription.buffer }
    init(subscription: EventSubscription) { self.subscription = subscription }
    deinit { subscription.cancel() }
}

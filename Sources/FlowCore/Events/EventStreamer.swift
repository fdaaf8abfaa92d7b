import Synchronization

/// The in-process event hub: runs deliver to it, subscribers receive what matches their pattern.
///
/// ``shared`` is the process-wide default that runs use unless given another sink; create separate
/// instances to isolate tests or tenants. Delivery never blocks a run: each subscription has its own
/// bounded buffer (see ``EventSubscription``).
///
/// ```swift
/// let events = try EventStreamer.shared.subscribe("sales_agent")
/// async let result = flow.run(SharedStore(["question": "…"]), namespace: "sales_agent")
/// for await event in events { print(event.type, event.content) }
/// ```
public final class EventStreamer: EventSink, Sendable {
    /// The process-wide default streamer.
    public static let shared = EventStreamer()

    /// The process-wide default streamer (the name used by PocketFlow-style code).
    public static func getInstance() -> EventStreamer { shared }

    /// The default number of events a subscription buffers.
    public static let defaultBufferSize = 8192

    private let subscriptions = Mutex<[SubscriptionBuffer]>([])
    /// Bumped on every subscribe and unsubscribe so that runs refresh their cached routes.
    private let generationCounter = Atomic<UInt64>(0)

    /// Creates an independent streamer with no subscribers.
    public init() {}

    /// Subscribes to the events that match `pattern`.
    ///
    /// - Parameters:
    ///   - pattern: See ``SubscriptionPattern``: `*`, `<namespace>`, `<namespace>/<runId>` or `prefix*`.
    ///   - bufferSize: How many events may wait for the consumer before the oldest are dropped.
    /// - Throws: ``FlowError`` with code `invalidPattern`.
    public func subscribe(_ pattern: String, bufferSize: Int = defaultBufferSize) throws -> EventSubscription {
        subscribe(try SubscriptionPattern(pattern), bufferSize: bufferSize)
    }

    /// Subscribes to the events that match `pattern`.
    public func subscribe(_ pattern: SubscriptionPattern, bufferSize: Int = defaultBufferSize) -> EventSubscription {
        let buffer = SubscriptionBuffer(pattern: pattern, capacity: bufferSize) { [self] buffer in
            remove(buffer)
        }
        subscriptions.withLock { $0.append(buffer) }
        generationCounter.add(1, ordering: .releasing)
        return EventSubscription(buffer: buffer)
    }

    /// Calls `handler` with every matching event, in order, from a task of its own.
    ///
    /// A slow handler never slows a run: events wait in a bounded buffer and the overflow is dropped and
    /// counted in ``SubscriptionToken/droppedCount``. Keep the token: cancelling or releasing it unsubscribes.
    ///
    /// - Throws: ``FlowError`` with code `invalidPattern`.
    public func subscribe(
        _ pattern: String,
        bufferSize: Int = defaultBufferSize,
        handler: @escaping @Sendable (StreamEvent) async -> Void
    ) throws -> SubscriptionToken {
        let subscription = try subscribe(pattern, bufferSize: bufferSize)
        let task = Task {
            for await event in subscription { await handler(event) }
        }
        return SubscriptionToken(subscription: subscription, task: task)
    }

    /// Hands `event` to every matching subscription.
    ///
    /// Runs bound to this streamer do not come through here: they cache their matching subscriptions.
    public func deliver(_ event: StreamEvent) {
        guard subscriptionCount > 0 else { return }
        let terminal = event.type.isTerminal
        for buffer in subscriptions.withLock({ $0 }) where buffer.pattern.matches(event) {
            buffer.push(event, terminal: terminal)
        }
    }

    /// The number of live subscriptions.
    public var subscriptionCount: Int { subscriptions.withLock { $0.count } }

    var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// The subscriptions that receive some events of one run.
    func routes(namespace: String, runId: String) -> [SubscriptionRoute] {
        subscriptions.withLock { buffers in
            buffers.compactMap { buffer in
                switch buffer.pattern.match(namespace: namespace, runId: runId) {
                case .none: nil
                case .all: SubscriptionRoute(buffer: buffer, typePrefix: nil)
                case .typePrefix(let prefix): SubscriptionRoute(buffer: buffer, typePrefix: prefix)
                }
            }
        }
    }

    private func remove(_ buffer: SubscriptionBuffer) {
        subscriptions.withLock { $0.removeAll { $0 === buffer } }
        generationCounter.add(1, ordering: .releasing)
    }
}

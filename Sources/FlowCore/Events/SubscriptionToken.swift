/// Keeps a callback subscription alive; ``cancel()`` it, or let it go, to unsubscribe.
public final class SubscriptionToken: Sendable {
    private let subscription: EventSubscription
    private let task: Task<Void, Never>

    init(subscription: EventSubscription, task: Task<Void, Never>) {
        self.subscription = subscription
        self.task = task
    }

    deinit { cancel() }

    /// Stops calling the handler and unsubscribes.
    public func cancel() {
        subscription.cancel()
        task.cancel()
    }

    /// How many matching events were dropped because the handler fell behind.
    public var droppedCount: Int { subscription.droppedCount }
    /// The pattern the handler receives.
    public var pattern: SubscriptionPattern { subscription.pattern }
}

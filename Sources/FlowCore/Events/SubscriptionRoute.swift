/// A subscription buffer that receives some or all of one run's events.
struct SubscriptionRoute: Sendable {
    let buffer: SubscriptionBuffer
    /// `nil` when every event of the run matches; otherwise the prefix the event type must have.
    let typePrefix: String?

    @inline(__always)
    func matches(_ type: EventType) -> Bool {
        Self.matches(type, typePrefix: typePrefix)
    }

    /// Whether an event of `type` passes a route with `typePrefix` (`nil`: every type does).
    @inline(__always)
    static func matches(_ type: EventType, typePrefix: String?) -> Bool {
        guard let typePrefix else { return true }
        return type.rawValue.utf8.starts(with: typePrefix.utf8)
    }
}

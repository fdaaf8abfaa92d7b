/// Where a run's events go: ``EventStreamer`` in process, a network publisher in a worker.
///
/// A run calls ``deliver(_:)`` once per event, synchronously, from whichever task emitted it, while holding
/// the run's lock: events of one run arrive one at a time and in `seq` order, events of different runs may
/// arrive concurrently. An implementation must therefore be quick and must never block, await, or emit;
/// hand the event to a bounded buffer and count what does not fit.
public protocol EventSink: Sendable {
    /// Takes one event.
    func deliver(_ event: StreamEvent)
}

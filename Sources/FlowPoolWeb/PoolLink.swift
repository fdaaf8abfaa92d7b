import FlowCore
import FlowPool
import HTTPTypes
import Logging
import Synchronization

/// The web view's connection to the pool: one control client, made on first use and made again after a failed
/// connect, and the subscriptions that feed the namespace and run models.
///
/// Models are shared by the pages open on them and followed while any page is; a model no page has used for
/// ``idleSeconds`` is closed. At most ``maxNamespaces`` namespaces and ``maxRuns`` runs are followed at once.
final class PoolLink: Sendable {
    static let maxNamespaces = 32
    static let maxRuns = 64
    static let idleSeconds = 60.0
    /// Runs of a namespace whose history a namespace page is first shown (the model holds no more).
    static let historyRuns = NamespaceModel.maxRuns

    let coordinator: String
    let keys: PoolKeys?
    let timeout: Duration
    let liveEventsPerSecond: Int
    let logger: Logger
    /// Runs a poll of a busy namespace shows, and how often it is polled.
    static let pollRuns = 100
    static let pollIntervalMilliseconds = 500
    static let pollInterval = Duration.milliseconds(pollIntervalMilliseconds)
    /// How often a followed namespace's runs that may have missed events are checked, and how many at most each time.
    static let quietCheckInterval = Duration.seconds(1)
    static let quietChecksPerInterval = 50
    let overview = OverviewModel()

    private let client = Mutex<ClientState>(.none)
    private let stopping = Mutex(false)

    /// Whether the web view is shutting down (live pages then end their streams).
    @Sendable func isStopping() -> Bool { stopping.withLock { $0 } }
    func stop() { stopping.withLock { $0 = true } }
    private let watches = Mutex<Watches>(Watches())

    private enum ClientState {
        case none
        case connecting(Task<PoolClient, any Error>)
        case connected(PoolClient)
    }

    private final class Watch<Model: Sendable>: Sendable {
        let model: Model
        let task: Mutex<Task<Void, Never>?> = Mutex(nil)
        /// Ends the current subscription.
        let closer: Mutex<(@Sendable () -> Void)?> = Mutex(nil)

        init(model: Model) { self.model = model }

        func stop() {
            closer.withLock { $0?() }
            task.withLock { $0?.cancel() }
        }
    }

    private struct Entry<Model: Sendable> {
        var watch: Watch<Model>
        var pages = 0
        var idleSince: ContinuousClock.Instant = .now
    }

    private struct Watches {
        var namespaces: [String: Entry<NamespaceModel>] = [:]
        var runs: [String: Entry<RunModel>] = [:]
    }

    init(coordinator: String, keys: PoolKeys?, timeout: Duration, liveEventsPerSecond: Int, logger: Logger) {
        self.coordinator = coordinator
        self.keys = keys
        self.timeout = timeout
        self.liveEventsPerSecond = liveEventsPerSecond
        self.logger = logger
    }

    /// The pool client, connecting first when there is none.
    func pool() async throws -> PoolClient {
        let task: Task<PoolClient, any Error> = client.withLock { state in
            switch state {
            case .connected(let client): return Task { client }
            case .connecting(let task): return task
            case .none:
                let task = Task { [coordinator, timeout, keys, logger] in
                    try await PoolClient.connect(to: coordinator, timeout: timeout, keys: keys, logger: logger)
                }
                state = .connecting(task)
                return task
            }
        }
        do {
            let pool = try await task.value
            client.withLock { if case .connecting = $0 { $0 = .connected(pool) } }
            return pool
        } catch {
            client.withLock { if case .connecting = $0 { $0 = .none } }
            throw error
        }
    }

    /// Closes every subscription and the client.
    func close() async {
        let (namespaces, runs) = watches.withLock { w in
            defer { w = Watches() }
            return (w.namespaces.values.map(\.watch), w.runs.values.map(\.watch))
        }
        for watch in namespaces { watch.stop() }
        for watch in runs { watch.stop() }
        let state = client.withLock { s in
            defer { s = .none }
            return s
        }
        if case .connected(let pool) = state { await pool.close() }
    }

    // MARK: Namespaces

    /// The model of `namespace`, followed from now on if it was not; pair with ``releaseNamespace(_:)``.
    /// - Throws: ``WebError`` when ``maxNamespaces`` are followed already.
    func acquireNamespace(_ namespace: String) throws(WebError) -> NamespaceModel {
        let (watch, isNew) = try acquire(namespace, in: \.namespaces, limit: Self.maxNamespaces, what: "namespaces") {
            NamespaceModel(namespace: namespace)
        }
        overview.noteNamespace(namespace)
        if isNew { start(watch) }
        return watch.model
    }

    func releaseNamespace(_ namespace: String) { release(namespace, in: \.namespaces) }

    /// The watch of `key` in `table` with one more page, made (not started) when there was none.
    /// - Throws: ``WebError`` when `limit` watches are in `table` already.
    private func acquire<Model: Sendable>(
        _ key: String,
        in table: WritableKeyPath<Watches, [String: Entry<Model>]>,
        limit: Int,
        what: String,
        make: () -> Model
    ) throws(WebError) -> (watch: Watch<Model>, isNew: Bool) {
        try watches.withLock { w throws(WebError) in
            if let entry = w[keyPath: table][key] {
                w[keyPath: table][key]?.pages += 1
                return (entry.watch, false)
            }
            guard w[keyPath: table].count < limit else {
                throw WebError(
                    .serviceUnavailable,
                    "busy",
                    "this web view follows \(limit) \(what) already; close some pages and try again"
                )
            }
            let watch = Watch(model: make())
            w[keyPath: table][key] = Entry(watch: watch, pages: 1)
            return (watch, true)
        }
    }

    /// One page fewer on the watch of `key`; idle from now when it was the last.
    private func release<Model: Sendable>(_ key: String, in table: WritableKeyPath<Watches, [String: Entry<Model>]>) {
        watches.withLock { w in
            w[keyPath: table][key]?.pages -= 1
            w[keyPath: table][key]?.idleSince = .now
        }
    }

    /// Follows a namespace: event by event (its batches, undecoded but for a sample) while it publishes fewer than
    /// ``liveEventsPerSecond``; above that, by polling its newest ``pollRuns`` runs every ``pollInterval`` (each shown
    /// exactly, the runs that start and end between two polls not at all) until it is quiet again.
    private func start(_ watch: Watch<NamespaceModel>) {
        let namespace = watch.model.namespace
        let model = watch.model
        let task = Task { [self] in
            var delay = Duration.milliseconds(200)
            while !Task.isCancelled {
                do {
                    // Live batches from now on (buffered while the history is read), then the newest runs' history.
                    let pool = try await pool()
                    let batches = try await pool.eventBatches(matching: namespace)
                    watch.closer.withLock { $0 = { batches.close() } }
                    if Task.isCancelled { batches.close() }
                    model.applyHistory(try await pool.replay(pattern: namespace, lastRuns: Self.historyRuns))
                    model.setSampling(nil)
                    model.setReady()
                    delay = .milliseconds(200)
                    let busy = Mutex(false)
                    let limit = UInt64(liveEventsPerSecond)
                    let monitor = Task {
                        var last = model.eventsTaken
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            let now = model.eventsTaken
                            if now - last > limit {
                                busy.withLock { $0 = true }
                                batches.close()
                                return
                            }
                            last = now
                        }
                    }
                    // Live batches are not repaired: a run some of whose events the coordinator's high-water mark
                    // dropped would show fewer events, or stay "running" when its end was dropped. Such runs are
                    // built again from their stored events once they have ended (a quiet running run is asked
                    // whether it has, with `get_result`).
                    let repair = Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: Self.quietCheckInterval)
                            for (runId, ended) in model.runsToCheck(
                                now: WallClock.now,
                                limit: Self.quietChecksPerInterval
                            ) {
                                if !ended, (try? await pool.result(namespace: namespace, runId: runId)) == nil {
                                    continue
                                }
                                if let events = try? await pool.replay(pattern: namespace + "/" + runId) {
                                    model.rebuild(events)
                                }
                            }
                        }
                    }
                    for await packed in batches { model.apply(packed) }
                    monitor.cancel()
                    repair.cancel()
                    guard busy.withLock({ $0 }) else { continue }
                    logger.info("namespace \(namespace) publishes more than \(limit) events/s: sampling it")
                    model.setSampling(
                        "More than \(limit) events a second: showing the newest \(Self.pollRuns) runs, refreshed every \(Self.pollIntervalMilliseconds) ms (runs that start and end in between are not shown)."
                    )
                    while !Task.isCancelled {
                        let events = try await pool.replay(pattern: namespace, lastRuns: Self.pollRuns)
                        model.applyPoll(events)
                        if Self.eventsPerSecond(of: events, at: WallClock.now) < Double(limit) / 2 { break }
                        try await Task.sleep(for: Self.pollInterval)
                    }
                    logger.info("namespace \(namespace) is quieter: following it event by event again")
                } catch {
                    watch.closer.withLock { $0?() }
                    logger.warning("following namespace \(namespace): \(error)")
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        watch.task.withLock { $0 = task }
    }

    /// About how many events a second a namespace publishes, from a poll of its newest runs: their events over the
    /// time from the first run's start to now (zero when its newest run started seconds ago).
    static func eventsPerSecond(of events: [WireEvent], at now: Double) -> Double {
        var starts: [String: Double] = [:]
        for event in events {
            starts[event.event.runId] = min(starts[event.event.runId] ?? .infinity, event.event.timestamp)
        }
        guard let first = starts.values.min(), let newest = starts.values.max(), now - newest < 2 else { return 0 }
        return Double(events.count) / max(now - first, 0.001)
    }

    // MARK: Runs

    /// The model of one run, followed from its first stored event; pair with ``releaseRun(namespace:runId:)``.
    /// - Throws: ``WebError`` when ``maxRuns`` runs are followed already.
    func acquireRun(namespace: String, runId: String) throws(WebError) -> RunModel {
        let (watch, isNew) = try acquire(namespace + "/" + runId, in: \.runs, limit: Self.maxRuns, what: "runs") {
            RunModel(namespace: namespace, runId: runId)
        }
        if isNew { start(watch) }
        return watch.model
    }

    func releaseRun(namespace: String, runId: String) { release(namespace + "/" + runId, in: \.runs) }

    private func start(_ watch: Watch<RunModel>) {
        let model = watch.model
        let task = Task { [self] in
            var delay = Duration.milliseconds(200)
            while !Task.isCancelled && !model.hasResult {
                do {
                    let pool = try await pool()
                    let pattern = model.namespace + "/" + model.runId
                    // A run that has ended is shown from replay and its result; one that goes on is followed.
                    if let result = try? await pool.result(namespace: model.namespace, runId: model.runId) {
                        for event in try await pool.replay(pattern: pattern) { _ = model.apply(event) }
                        model.setResult(result)
                        model.setReady()
                        break
                    }
                    let events = try await pool.events(matching: pattern, fromStart: true)
                    watch.closer.withLock { $0 = { events.close() } }
                    if Task.isCancelled { events.close() }
                    model.setProblem(nil)
                    delay = .milliseconds(200)
                    var ended = false
                    var history = events.historyCount
                    if history == 0 { model.setReady() }
                    for await event in events.withAttempts {
                        let terminal = model.apply(event)
                        history -= 1
                        if history == 0 { model.setReady() }
                        if terminal {
                            ended = true
                            break
                        }
                    }
                    model.setReady()
                    events.close()
                    if ended { await fetchResult(model, from: pool) }
                } catch {
                    model.setProblem("\(error)")
                    logger.warning("following run \(model.namespace)/\(model.runId): \(error)")
                }
                if model.hasResult { break }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        watch.task.withLock { $0 = task }
    }

    /// Asks for an ended run's result until the coordinator has it (it records it with the terminal event).
    private func fetchResult(_ model: RunModel, from pool: PoolClient) async {
        var delay = Duration.milliseconds(50)
        for _ in 0..<12 where !Task.isCancelled {
            if let result = try? await pool.result(namespace: model.namespace, runId: model.runId) {
                model.setResult(result)
                return
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }

    // MARK: Housekeeping

    /// Stops following what no page has used for ``idleSeconds``.
    func closeIdle() {
        let now = ContinuousClock.now
        let limit = Duration.seconds(Self.idleSeconds)
        let stopped = watches.withLock { w in
            let namespaces = w.namespaces.filter { $0.value.pages <= 0 && now - $0.value.idleSince > limit }
            let runs = w.runs.filter { $0.value.pages <= 0 && now - $0.value.idleSince > limit }
            for (key, entry) in namespaces {
                entry.watch.stop()
                w.namespaces[key] = nil
            }
            for (key, entry) in runs {
                entry.watch.stop()
                w.runs[key] = nil
            }
            return namespaces.count + runs.count
        }
        if stopped > 0 { logger.debug("stopped following \(stopped) idle namespaces and runs") }
    }

    /// Polls the coordinator's status once a second for the overview, and closes idle subscriptions, until cancelled.
    func pollStatus() async {
        while !Task.isCancelled {
            do {
                let pool = try await pool()
                let body = try await pool.status()
                overview.record(status: body, at: WallClock.now)
            } catch {
                overview.recordFailure("\(error)")
            }
            closeIdle()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

import ArgumentParser
import FlowCore
import FlowPool
import FlowPoolWorker
import Foundation
import Logging

/// `flowpool subscribe`: live events of a namespace, a run or a prefix.
struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Print live events matching PATTERN (NS, NS/RUN or PREFIX*).",
        discussion: """
            Events of each run are printed once and in order; events the subscriber missed are fetched from \
            the coordinator's replay buffer. On exit (SIGINT, or after --max-events / --until-terminals), \
            receive, repair and loss counts go to standard error.
            """
    )

    @Argument(help: "NS (every run of a namespace), NS/RUN (one run) or PREFIX* (raw topic prefix).")
    var pattern: String

    @Flag(help: "One JSON object per line (the wire envelope), instead of the human format.")
    var json = false

    @Flag(help: "First print the stored history of matching runs, then live events, without gap or duplicate.")
    var fromStart = false

    @Option(help: "Exit after this many events.")
    var maxEvents: Int?

    @Option(help: "Exit after this many terminal events (final, error, cancelled).")
    var untilTerminals: Int?

    @Option(help: "Events buffered locally before some are dropped (and repaired).")
    var bufferSize: Int = 100_000

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var keys: KeyOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        do { _ = try SubscriptionPattern(pattern) } catch { throw ValidationError("\(error)") }
        guard bufferSize > 0 else { throw ValidationError("--buffer-size must be positive") }
    }

    func run() async throws {
        let logger = log.makeLogger("flowpool.subscribe")
        let pool = try await PoolClient.connect(
            to: connection.coordinator,
            timeout: connection.timeoutDuration,
            keys: try keys.load(logger: logger),
            logger: logger
        )
        let events = try await pool.events(matching: pattern, fromStart: fromStart, bufferSize: bufferSize)
        printError("subscribed to \(pattern)")
        let signals = SignalCatcher(signals: [SIGINT, SIGTERM]) { events.close() }
        var count = 0
        var terminals = 0
        var iterator = events.makeAsyncIterator()
        while let wire = await iterator.nextWireEvent() {
            printFlushed(json ? Self.jsonLine(wire) : Self.humanLine(wire))
            count += 1
            if wire.event.type.isTerminal { terminals += 1 }
            if let maxEvents, count >= maxEvents { break }
            if let untilTerminals, terminals >= untilTerminals { break }
        }
        signals.cancel()
        let s = events.statistics
        printError(
            "events \(count) received \(s.received) history \(s.fromHistory) gaps \(s.gaps) repaired \(s.repaired) lost \(s.lost) duplicates \(s.duplicates) stale \(s.stale) buffer_drops \(s.bufferDrops)"
        )
        await pool.close()
    }

    static func jsonLine(_ wire: WireEvent) -> String {
        String(decoding: wire.envelopeBytes, as: UTF8.self)
    }

    static func humanLine(_ wire: WireEvent) -> String {
        let e = wire.event
        let attempt = wire.attempt > 1 ? " attempt \(wire.attempt)" : ""
        return "\(e.namespace)/\(e.runId) #\(e.seq)\(attempt) \(e.type) [\(e.node)] \(e.content.wireText)"
    }
}

/// Runs a handler when one of `signals` arrives (via a dispatch source, off the cooperative pool).
final class SignalCatcher: Sendable {
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable () -> Void) {
        // Written once here and only read (cancelled) afterwards.
        var made: [any DispatchSourceSignal] = []
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            made.append(source)
        }
        sources = made
    }

    func cancel() { for s in sources { s.cancel() } }
}

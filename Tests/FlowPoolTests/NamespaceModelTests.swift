import FlowCore
import FlowPool
import Testing

@testable import FlowPoolWeb

/// The web view's namespace model fed with real wire bytes (the coordinator's batch packing): what a page is sent.
@Suite("Web view namespace model")
struct NamespaceModelTests {
    /// One event of run `run` in namespace `ns`.
    static func event(
        _ run: String,
        _ seq: UInt64,
        _ type: EventType = .chunk,
        attempt: Int = 1,
        text: String? = nil,
        at timestamp: Double? = nil
    ) -> WireEvent {
        let content: JSONValue =
            switch type {
            case .final: ["answer": .string(text ?? "done")]
            case .chunk: ["text": .string(text ?? "t\(seq) ")]
            default: ["status": "working"]
            }
        return WireEvent(
            event: StreamEvent(
                namespace: "ns",
                runId: run,
                seq: seq,
                type: type,
                node: "answer",
                timestamp: timestamp ?? 1_000 + Double(seq),
                content: content
            ),
            attempt: attempt
        )
    }

    /// The events packed as the coordinator publishes them to batch subscribers.
    static func packed(_ events: [WireEvent]) -> PackedEvents {
        var body: [UInt8] = []
        for e in events { EventBatch.append(RawEvent(topic: e.topicBytes, envelope: e.envelopeBytes), to: &body) }
        return PackedEvents(body: body)
    }

    static func run(_ message: JSONValue, _ id: String) -> JSONValue? {
        message["runs"]?.arrayValue?.first { $0["run"]?.stringValue == id }
    }

    @Test("live events that the history already had are not taken twice; the rest continue it in order")
    func historyThenLiveWithoutDuplicates() {
        let model = NamespaceModel(namespace: "ns")
        model.applyHistory((1...5).map { Self.event("a", $0) })
        // The subscription was active before the history was read: events 3…5 come again, then 6…8.
        model.apply(Self.packed((3...8).map { Self.event("a", $0) }))
        let (snapshot, _) = model.snapshot()
        let a = Self.run(snapshot, "a")
        #expect(a?["events"] == 8)
        #expect(a?["text"] == .string((1...8).map { "t\($0) " }.joined()))
        #expect(snapshot["feed"]?.arrayValue?.compactMap { $0["seq"]?.intValue } == Array(1...8))
    }

    @Test("a new attempt starts its text over; an event of the older attempt after it changes nothing")
    func attempts() {
        let model = NamespaceModel(namespace: "ns")
        model.apply(Self.packed([Self.event("a", 1, text: "old "), Self.event("a", 1, attempt: 2, text: "new ")]))
        model.apply(
            Self.packed([Self.event("a", 2, text: "stale "), Self.event("a", 2, .final, attempt: 2, text: "ok")])
        )
        let a = Self.run(model.snapshot().message, "a")
        #expect(a?["attempt"] == 2)
        #expect(a?["text"] == "new ")
        #expect(a?["answer"] == "ok")
        #expect(a?["state"] == "completed")
    }

    @Test("past the decoding budget events are counted from their topics: every run's end is seen, the feed sampled")
    func decodingBudget() {
        let model = NamespaceModel(namespace: "ns")
        let runs = 100
        var events: [WireEvent] = []
        for r in 0..<runs {
            for seq in 1...12 { events.append(Self.event("r\(r)", UInt64(seq))) }
            events.append(Self.event("r\(r)", 13, .final))
        }
        var start = 0
        while start < events.count {
            model.apply(Self.packed(Array(events[start..<min(start + 128, events.count)])))
            start += 128
        }
        let (snapshot, _) = model.snapshot()
        let shown = snapshot["runs"]?.arrayValue ?? []
        #expect(shown.count == runs)
        #expect(shown.allSatisfy { $0["state"] == "completed" && $0["events"] == 13 })
        #expect(shown.contains { $0["sampled"] == true }, "more than one window's budget: some only counted")
        #expect(shown.filter { $0["sampled"] == false }.count >= NamespaceModel.decodesPerWindow / 12)
        #expect(model.eventsTaken == UInt64(runs * 13))
    }

    @Test("a page is sent what changed since its cursor, with removed runs; one too far behind gets a snapshot")
    func cursorsAndRemovals() {
        let model = NamespaceModel(namespace: "ns")
        model.apply(Self.packed([Self.event("a", 1), Self.event("b", 1)]))
        let (_, cursor) = model.snapshot()
        #expect(model.update(after: cursor) == nil, "nothing changed")
        // A poll lists only b (and a new c): a leaves the view and the page is told.
        model.applyPoll([Self.event("b", 1), Self.event("b", 2), Self.event("c", 1)])
        let update = model.update(after: cursor)
        #expect(update?.event == "update")
        #expect(update?.message["removed"] == ["a"])
        let changed = Set(update?.message["runs"]?.arrayValue?.compactMap { $0["run"]?.stringValue } ?? [])
        #expect(changed == ["b", "c"])
        #expect(update?.message["feed"]?.arrayValue?.count == 2, "b's second event and c's first")
        // Many removals later, a page still at the old cursor cannot be told them one by one: it gets a snapshot.
        for i in 0..<(4 * NamespaceModel.maxRuns + 10) {
            model.applyPoll([Self.event("x\(i)", 1)])
        }
        #expect(model.update(after: cursor)?.event == "snapshot")
    }

    @Test("a run whose events were only counted is built again from its stored events: counted once, fed once")
    func countedRunsStartOverFromStoredEvents() {
        let model = NamespaceModel(namespace: "ns")
        // More runs than one window's decoding budget: the later ones are only counted from their topics.
        let runs = NamespaceModel.decodesPerWindow
        var events: [WireEvent] = []
        for r in 0..<runs {
            for seq in 1...12 { events.append(Self.event("r\(r)", UInt64(seq), text: "x")) }
            events.append(Self.event("r\(r)", 13, .final, text: "answer \(r)"))
        }
        var start = 0
        while start < events.count {
            model.apply(Self.packed(Array(events[start..<min(start + 128, events.count)])))
            start += 128
        }
        let (before, cursor) = model.snapshot()
        let sampled = (before["runs"]?.arrayValue ?? []).filter { $0["sampled"] == true }
            .compactMap { $0["run"]?.stringValue }
        #expect(!sampled.isEmpty, "some runs only counted")
        let taken = model.eventsTaken
        // Their stored events, as a poll (or the history) brings them: shown exactly, once.
        let stored = events.filter { sampled.contains($0.event.runId) }
        for apply in [model.applyPoll, model.applyHistory] {
            apply(stored)
            let (after, _) = model.snapshot()
            for id in sampled {
                let run = Self.run(after, id)
                #expect(run?["events"] == 13, "\(run?.wireText ?? id)")
                #expect(run?["sampled"] == false)
                #expect(run?["text"]?.stringValue == String(repeating: "x", count: 12))
                #expect(run?["answer"]?.stringValue == "answer \(id.dropFirst())")
            }
        }
        #expect(model.eventsTaken == taken, "stored events of runs already counted are not counted again")
        let fed = model.update(after: cursor)?.message["feed"]?.arrayValue ?? []
        #expect(fed.isEmpty, "nor fed to pages again")
    }

    @Test("runs that may have missed events are checked: an end with fewer events than its seq first, then quiet runs")
    func runsToCheck() {
        let model = NamespaceModel(namespace: "ns")
        // "gap" ends at seq 5 with 3 events taken; "quiet" has had no event for a while; "busy" has, just now.
        model.apply(Self.event("quiet", 1))
        for seq: UInt64 in [1, 2, 5] { model.apply(Self.event("gap", seq, seq == 5 ? .final : .chunk)) }
        model.apply(Self.event("whole", 1))
        model.apply(Self.event("whole", 2, .final))
        let now = 1_000 + 5 + NamespaceModel.quietSeconds
        model.apply(Self.event("busy", 1, at: now - 0.5))
        let checked = model.runsToCheck(now: now, limit: 10)
        #expect(checked.map(\.id) == ["gap", "quiet"])
        #expect(checked.map(\.ended) == [true, false])
        #expect(model.runsToCheck(now: now + 1, limit: 10).isEmpty, "each is checked once per quiet interval")
        // Its stored events build "gap" again, whole: it is not checked again (the running runs are, quiet by then).
        model.rebuild((1...4).map { Self.event("gap", UInt64($0)) } + [Self.event("gap", 5, .final)])
        let (snapshot, _) = model.snapshot()
        #expect(Self.run(snapshot, "gap")?["events"] == 5)
        #expect(Self.run(snapshot, "gap")?["text"] == "t1 t2 t3 t4 ")
        let later = model.runsToCheck(now: now + 2 * NamespaceModel.quietSeconds, limit: 10)
        #expect(later.map(\.id) == ["quiet", "busy"])
        // Its live events still on the way, past the decoding budget, are checked against what it holds.
        let filler = (1...UInt64(NamespaceModel.decodesPerWindow)).map { Self.event("filler", $0) }
        model.apply(Self.packed(filler + [Self.event("gap", 3), Self.event("gap", 4)]))
        let (afterLate, _) = model.snapshot()
        #expect(Self.run(afterLate, "gap")?["events"] == 5, "\(Self.run(afterLate, "gap")?.wireText ?? "")")
    }
}

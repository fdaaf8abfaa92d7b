import FlowCore
import FlowPool
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// Submits one phase's runs to a coordinator over the wire protocol and records when each result came back.
///
/// The driver speaks the control protocol directly on a DEALER socket owned by its own loop thread: in the
/// closed loop the next submit leaves from the thread that received the previous result, so the harness adds
/// no task hops of its own to what it measures. In the open loop a pacing thread submits on schedule and
/// latency counts from each run's intended send time, so a stalled pool cannot hide its stalls (no
/// coordinated omission).
final class LoadDriver: Sendable {
    /// The state the loop thread owns.
    final class Core: @unchecked Sendable {
        // Safety: `ledger`, `welcome` and `nextIndex` are touched only on the loop's single thread (socket
        // handler and `perform` closures) until `SocketLoop.shutdown()` joined it; cross-thread figures are atomics.
        var ledger: DriverLedger
        var welcome: Welcome?
        var welcomeError: String?
        var nextIndex = 0
        let plan: PhasePlan
        let index: RunIndex
        let template: [UInt8]
        let offsets: [Int]
        /// Closed loop with batched submits: one run of a `submit_batch` frame and its run-id slots.
        let batchElement: [UInt8]
        let batchOffsets: [Int]
        let batchHead: [UInt8]
        var endAt: UInt64?
        let sent = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let completed = Atomic<Int>(0)
        let sendingDone = Atomic<Bool>(false)
        let hasWelcome = Atomic<Bool>(false)

        init(
            plan: PhasePlan,
            index: RunIndex,
            template: [UInt8],
            offsets: [Int],
            batchElement: [UInt8],
            batchOffsets: [Int],
            capacity: Int
        ) {
            self.plan = plan
            self.index = index
            self.template = template
            self.offsets = offsets
            self.batchElement = batchElement
            self.batchOffsets = batchOffsets
            self.batchHead = Array(#"{"v":1,"op":"submit_batch","id":"\#(index.token)-batch","runs":["#.utf8)
            self.ledger = DriverLedger(capacity: capacity)
        }

        static let acceptedHead = Array(#"{"v":1,"op":"accepted","#.utf8)

        /// The submit frame of run `i`.
        @inline(__always)
        func frame(_ i: Int) -> [UInt8] {
            var bytes = template
            for o in offsets { RunIndex.write(i, into: &bytes, at: o) }
            return bytes
        }

        /// Whether another run may be submitted now (closed loop).
        func maySubmit(now: UInt64) -> Bool {
            if let runs = plan.runs, nextIndex >= runs { return false }
            if let endAt, now >= endAt { return false }
            return true
        }

        /// Closed loop: claims the next run's index and records it as sent, or nil when submitting is over.
        private func claimNext(now: UInt64) -> Int? {
            guard maySubmit(now: now) else {
                sendingDone.store(true, ordering: .releasing)
                return nil
            }
            let i = nextIndex
            nextIndex += 1
            if i >= ledger.state.count { ledger.grow(to: i + 1) }
            ledger.state[i] = DriverLedger.RunState.sent.rawValue
            ledger.sentAt[i] = now
            if ledger.firstSentAt == 0 { ledger.firstSentAt = now }
            ledger.sent += 1
            sent.add(1, ordering: .relaxed)
            return i
        }

        /// Closed loop: submits the next run from the loop thread.
        func submitNext(_ io: SocketLoop.IO, on handle: SocketLoop.SocketHandle) {
            guard let i = claimNext(now: MonotonicClock.now()) else { return }
            ledger.submitMessages += 1
            io.send([frame(i)], on: handle)
        }

        /// Closed loop: submits the next `count` runs from the loop thread, in `submit_batch` messages of at
        /// most ``LoadDriver/maxBatch`` runs and half the coordinator's message limit when the plan batches
        /// submits (a single run goes as `submit`).
        func submit(_ count: Int, _ io: SocketLoop.IO, on handle: SocketLoop.SocketHandle) {
            guard plan.batchSubmits, count > 1 else {
                for _ in 0..<count { submitNext(io, on: handle) }
                return
            }
            let now = MonotonicClock.now()
            // At most 1,000 runs, and at most half the coordinator's message limit (large inputs).
            let limitBytes = (welcome?.maxMessageBytes ?? 1 << 20) / 2
            let perMessage = max(1, min(LoadDriver.maxBatch, (limitBytes - batchHead.count) / (batchElement.count + 1)))
            var left = count
            while left > 0 {
                var indices: [Int] = []
                indices.reserveCapacity(min(left, perMessage))
                while indices.count < min(left, perMessage), let i = claimNext(now: now) { indices.append(i) }
                guard !indices.isEmpty else { return }
                left -= indices.count
                ledger.submitMessages += 1
                if indices.count == 1 {
                    io.send([frame(indices[0])], on: handle)
                    continue
                }
                var bytes = batchHead
                bytes.reserveCapacity(batchHead.count + indices.count * (batchElement.count + 1) + 2)
                for (n, i) in indices.enumerated() {
                    if n > 0 { bytes.append(UInt8(ascii: ",")) }
                    let start = bytes.count
                    bytes += batchElement
                    for o in batchOffsets { RunIndex.write(i, into: &bytes, at: start + o) }
                }
                bytes.append(UInt8(ascii: "]"))
                bytes.append(UInt8(ascii: "}"))
                io.send([bytes], on: handle)
            }
        }

        /// Handles one reply on the loop thread.
        /// Records a run's pushed result; true when it finished a run (not a duplicate or unknown one).
        func record(_ r: RunResult, at now: UInt64) -> Bool {
            guard let i = index.index(of: r.id) else {
                ledger.unknownReplies += 1
                return false
            }
            if i >= ledger.state.count { ledger.grow(to: i + 1) }
            let s = ledger.state[i]
            if s == DriverLedger.RunState.completed.rawValue || s == DriverLedger.RunState.failed.rawValue {
                ledger.duplicateResults += 1
                return false
            }
            ledger.resultAt[i] = now
            ledger.lastResultAt = now
            ledger.attempts[i] = UInt8(clamping: r.attempts)
            if r.status == .completed {
                ledger.state[i] = DriverLedger.RunState.completed.rawValue
                ledger.completed += 1
                completed.add(1, ordering: .relaxed)
                if let expected = plan.expectedAnswer, r.result.stringValue != expected { ledger.wrongAnswers += 1 }
            } else {
                ledger.state[i] = DriverLedger.RunState.failed.rawValue
                ledger.failed += 1
                ledger.failuresByCode[r.errorCode?.rawValue ?? "unknown", default: 0] += 1
                if ledger.failureSample == nil {
                    ledger.failureSample = "\(r.errorCode?.rawValue ?? "?"): \(r.errorMessage ?? "")"
                }
            }
            return true
        }

        func handle(_ frames: [[UInt8]], _ io: SocketLoop.IO) {
            let now = MonotonicClock.now()
            // `accepted` is the most frequent reply and only counted: recognise it without a full parse.
            if frames.count == 1, frames[0].starts(with: Self.acceptedHead) {
                ledger.accepted += 1
                return
            }
            let reply: ControlReply
            do {
                reply = try ControlReply.decode(frames)
            } catch {
                ledger.unknownReplies += 1
                return
            }
            let count = apply(reply, at: now)
            if count > 0 {
                finished.add(count, ordering: .relaxed)
                if case .closed = plan.model, let source = io.source { submit(count, io, on: source) }
            }
        }

        /// Records one reply; returns how many runs it finished (results and rejections).
        private func apply(_ reply: ControlReply, at now: UInt64) -> Int {
            switch reply {
            case .welcome(let w):
                welcome = w
                hasWelcome.store(true, ordering: .releasing)
                return 0
            case .accepted(let id, _, _, _):
                guard let i = index.index(of: id) else { return 0 }
                if i >= ledger.state.count { ledger.grow(to: i + 1) }
                if ledger.state[i] <= DriverLedger.RunState.sent.rawValue {
                    ledger.state[i] = DriverLedger.RunState.accepted.rawValue
                }
                ledger.accepted += 1
                return 0
            case .acceptedBatch(_, let answers):
                return answers.reduce(0) { $0 + apply($1, at: now) }
            case .error(let id, let code, let message):
                guard let id, let i = index.index(of: id) else {
                    if !hasWelcome.load(ordering: .relaxed) { welcomeError = "\(code.rawValue): \(message)" }
                    ledger.unknownReplies += 1
                    return 0
                }
                if i >= ledger.state.count { ledger.grow(to: i + 1) }
                ledger.state[i] = DriverLedger.RunState.rejected.rawValue
                ledger.rejected += 1
                if code == .poolFull { ledger.rejectedPoolFull += 1 }
                if ledger.rejectionSample == nil { ledger.rejectionSample = "\(code.rawValue): \(message)" }
                return 1
            case .result(let r):
                return record(r, at: now) ? 1 : 0
            case .resultBatch(let results):
                var count = 0
                for r in results where record(r, at: now) { count += 1 }
                return count
            default:
                ledger.unknownReplies += 1
                return 0
            }
        }
    }

    /// Most runs in one `submit_batch` (the protocol's limit).
    static let maxBatch = 1_000

    let core: Core
    let loop: SocketLoop
    let handle: SocketLoop.SocketHandle
    let control: String
    /// When the open loop's run 0 is due (ns); run i is due `i × interval` later.
    let openStart = Atomic<UInt64>(0)
    private let stopPacer = Atomic<Bool>(false)
    private let pacerStalls = Atomic<Int>(0)

    /// Connects a DEALER to the coordinator's control endpoint and prepares the phase's submit frame.
    init(control: String, plan: PhasePlan, index: RunIndex, logger: Logger) throws {
        let placeholder = index.placeholder
        let request = SubmitRequest(
            id: placeholder,
            flow: plan.flow,
            namespace: plan.namespace,
            runId: placeholder,
            input: try JSONValue(wireText: plan.inputJSON),
            reply: true
        )
        let template = ControlRequest.submit(request).frame
        let offsets = Self.occurrences(of: Array(placeholder.utf8), in: template).map {
            $0 + index.token.utf8.count + 1
        }
        guard offsets.count == 2 else {
            throw BenchError(.setup, "the submit frame template has \(offsets.count) run-id slots, expected 2")
        }
        // One run of a `submit_batch`: the text between `"runs":[` and the closing `]}`.
        let batchTemplate = ControlRequest.submitBatch(id: "b", runs: [request]).frame
        let runsKey = Array(#""runs":["#.utf8)
        guard let runsAt = Self.occurrences(of: runsKey, in: batchTemplate).first else {
            throw BenchError(.setup, "the submit_batch template has no runs array")
        }
        let batchElement = Array(batchTemplate[(runsAt + runsKey.count)..<(batchTemplate.count - 2)])
        let batchOffsets = Self.occurrences(of: Array(placeholder.utf8), in: batchElement).map {
            $0 + index.token.utf8.count + 1
        }
        guard batchOffsets.count == 2 else {
            throw BenchError(.setup, "the submit_batch run template has \(batchOffsets.count) run-id slots, expected 2")
        }
        let capacity = plan.runs ?? 65_536
        core = Core(
            plan: plan,
            index: index,
            template: template,
            offsets: offsets,
            batchElement: batchElement,
            batchOffsets: batchOffsets,
            capacity: capacity
        )
        let context = try Context()
        loop = try SocketLoop(context: context, name: "fpb-driver", batchSize: 1024, logger: logger)
        let socket = try Socket(context, .dealer)
        try BenchKeys.secure(socket)
        try socket.set(.sendHighWaterMark(200_000))
        try socket.set(.receiveHighWaterMark(200_000))
        try socket.connect(CoordinatorAddress.controlEndpoint(control))
        let core = self.core
        handle = try loop.add(socket, maxFrames: 4, outboundCapacity: 200_000) { frames, io in
            core.handle(frames, io)
        }
        self.control = control
        loop.start()
    }

    /// Says hello and returns the coordinator's welcome (its ports and limits).
    func hello(timeout: Duration) async throws -> Welcome {
        let frame = ControlRequest.hello(id: "hello-\(core.index.token)", batchResults: true).frame
        try await loop.send([frame], on: handle)
        let deadline = ContinuousClock.now + timeout
        while !core.hasWelcome.load(ordering: .acquiring) {
            guard ContinuousClock.now < deadline else {
                throw BenchError(.timeout, "no welcome from the coordinator at \(control) within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        let core = self.core
        return try await loop.perform { _ in core.welcome! }
    }

    /// Runs submitted so far.
    var sent: Int { core.sent.load(ordering: .relaxed) }
    /// Runs finished (result or rejection) so far.
    var finished: Int { core.finished.load(ordering: .relaxed) }
    /// Runs completed so far.
    var completed: Int { core.completed.load(ordering: .relaxed) }
    /// Times the open-loop pacer found the outbound queue full.
    var stalls: Int { pacerStalls.load(ordering: .relaxed) }

    /// Starts submitting: `inFlight` runs at once (closed loop) or the pacing thread (open loop).
    func start(seconds: Double?) async throws {
        let core = self.core
        let handle = self.handle
        switch core.plan.model {
        case .closed(let inFlight):
            let end: UInt64? = seconds.map { MonotonicClock.now() + UInt64($0 * 1e9) }
            try await loop.perform { io in
                if let end { core.endAt = end }
                for _ in 0..<inFlight { core.submitNext(io, on: handle) }
            }
        case .open(let rate):
            let interval = 1e9 / rate
            let start = MonotonicClock.now() + 2_000_000
            openStart.store(start, ordering: .releasing)
            let total = core.plan.runs ?? Int.max
            let end: UInt64? = seconds.map { start + UInt64($0 * 1e9) }
            let loop = self.loop
            let driver = self
            let thread = Thread {
                var i = 0
                while i < total, !driver.stopPacer.load(ordering: .relaxed) {
                    let due = start + UInt64(Double(i) * interval)
                    if let end, due >= end { break }
                    let now = MonotonicClock.now()
                    if due > now + 50_000 { MonotonicClock.sleep(until: due) }
                    // Send everything that is due by now, each with its own intended time.
                    while i < total, start + UInt64(Double(i) * interval) <= MonotonicClock.now() + 20_000 {
                        let frame = core.frame(i)
                        while !loop.trySend([frame], on: handle) {
                            driver.pacerStalls.add(1, ordering: .relaxed)
                            if driver.stopPacer.load(ordering: .relaxed) { break }
                            usleep(50)
                        }
                        core.sent.add(1, ordering: .relaxed)
                        i += 1
                    }
                }
                core.sendingDone.store(true, ordering: .releasing)
            }
            thread.name = "fpb-pacer"
            thread.start()
        }
    }

    /// Whether every submitted run has finished and nothing more will be submitted.
    var isDone: Bool {
        core.sendingDone.load(ordering: .acquiring) && finished >= sent
    }

    /// Stops submitting (the open loop's pacer, the closed loop's refills).
    func stopSubmitting() async {
        stopPacer.store(true, ordering: .relaxed)
        let core = self.core
        _ = try? await loop.perform { _ in core.endAt = 0 }
    }

    /// Stops the loop and returns the ledger (final from now on).
    func finish() async -> DriverLedger {
        await loop.shutdown()
        var ledger = core.ledger
        if case .open = core.plan.model {
            ledger.sent = core.sent.load(ordering: .relaxed)
            ledger.firstSentAt = openStart.load(ordering: .acquiring)
        }
        return ledger
    }

    private static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard needle.count <= haystack.count else { return [] }
        var found: [Int] = []
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) {
                found.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }
}

import FlowCore
import Foundation
import Testing
import ZeroMQ

@testable import FlowPool

/// The coordinator's ``EventPublisher`` on a real XPUB with a real subscriber (inproc): how many events a
/// namespace batch holds.
@Suite("Event publisher batches")
struct EventPublisherTests {
    /// Publishes `count` events of `envelopeBytes` bytes each (namespace `ns`) to a batch subscriber, flushes,
    /// and returns how many events each batch the subscriber received held.
    static func batchSizes(count: Int, envelopeBytes: Int) async throws -> [Int] {
        let context = try Context()
        let xpub = try Socket(context, .xpub)
        try xpub.set(.xpubVerbose(true))
        let endpoint = "inproc://publisher-\(UUID().uuidString)"
        try xpub.bind(endpoint)
        let sub = try Socket(context, .sub)
        try sub.connect(endpoint)
        try sub.set(.subscribe(EventBatch.subscriberTopicPrefix + Array("ns/".utf8)))
        var publisher = EventPublisher()
        // The subscription reaches the XPUB as a message, as it reaches the coordinator.
        let subscription = try await Self.next(from: xpub)
        publisher.subscription(subscription[0])
        #expect(publisher.batchPrefixes == 1)
        let envelope = [UInt8](repeating: UInt8(ascii: "x"), count: envelopeBytes)
        for i in 0..<count {
            try publisher.publish(RawEvent(topic: Array("ns/run\(i)/chunk".utf8), envelope: envelope), on: xpub)
        }
        try publisher.flush(xpub)
        var sizes: [Int] = []
        while sizes.reduce(0, +) < count {
            let frames = try await Self.next(from: sub)
            #expect(frames.count == 2 && frames[0] == EventBatch.subscriberTopicPrefix + Array("ns/".utf8))
            sizes.append(try EventBatch.unpack(frames[1]).count)
        }
        return sizes
    }

    /// The next message on `socket`, waiting at most 10 s.
    static func next(from socket: Socket) async throws -> [[UInt8]] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let frames = try socket.tryReceiveMultipart() { return frames }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw HarnessError("no message within 10 s")
    }

    @Test("a batch holds at most 128 events")
    func eventBound() async throws {
        #expect(try await Self.batchSizes(count: 300, envelopeBytes: 100) == [128, 128, 44])
    }

    @Test("a batch holds at most 32 KiB of events; a larger event travels alone")
    func byteBound() async throws {
        // 8 events of 4,000-byte envelopes (with their topics and lengths) fit in 32 KiB, a 9th does not.
        #expect(try await Self.batchSizes(count: 20, envelopeBytes: 4_000) == [8, 8, 4])
        #expect(try await Self.batchSizes(count: 2, envelopeBytes: 40_000) == [1, 1])
    }
}

import Foundation
import Synchronization
import Testing
import ZeroMQ

@Suite struct LifecycleTests {
    @Test func closingWithUnsentMessagesDoesNotHang() async throws {
        try await Deadline.run(seconds: 5) {
            let context = try Context()
            let push = try Socket(context, .push)
            // Nobody listens there: messages queue in the socket and are never delivered.
            try push.connect("tcp://127.0.0.1:1")
            let bound = try Socket(context, .push)
            try bound.bind("tcp://127.0.0.1:*")
            for _ in 0..<10 { _ = try push.trySend(multipart: [bytes("unsent")]) }
            push.close()
            #expect(push.isClosed)
            // Dropping the last references terminates the context (linger 0: immediately).
        }
    }

    @Test func loopShutdownWithUnsentMessagesFailsWaitingSenders() async throws {
        let context = try Context()
        try await Deadline.run(seconds: 10) {
            let loop = try SocketLoop(context: context, name: "test-stop", logger: .test)
            loop.start()
            let push = try Socket(context, .push)
            try push.set(.sendHighWaterMark(1))
            try push.set(.immediate(true))
            try push.connect("tcp://127.0.0.1:1")
            let handle = try loop.add(push, outboundCapacity: 4)
            for _ in 0..<4 { #expect(loop.trySend([bytes("stuck")], on: handle)) }
            #expect(!loop.trySend([bytes("no room")], on: handle))
            let waiting = Task { try await loop.send([bytes("waits")], on: handle) }
            await loop.shutdown()
            let error = await #expect(throws: ZeroMQError.self) { try await waiting.value }
            #expect(error?.code == .loopStopped)
            #expect(throws: ZeroMQError.self) { try loop.add(try Socket(context, .pull)) }
        }
    }

    @Test func contextShutdownStopsTheLoop() async throws {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "test-ctx", logger: .test)
        loop.start()
        let pull = try Socket(context, .pull)
        try pull.bind("inproc://ctx-shutdown")
        let (_, inbox) = try loop.addStream(pull)
        try await Deadline.run(seconds: 5) {
            // Wait until the loop runs with the socket, then pull the rug.
            _ = try await loop.perform { io in io.source == nil }
            context.shutdown()
            for await _ in inbox {}
            await loop.shutdown()
        }
    }

    @Test func cancelledSenderStopsWaiting() async throws {
        let context = try Context()
        try await withSocketLoop(context: context, name: "test-cancel", logger: .test) { loop in
            let push = try Socket(context, .push)
            try push.set(.immediate(true))
            try push.connect("tcp://127.0.0.1:1")
            let handle = try loop.add(push, outboundCapacity: 1)
            #expect(loop.trySend([bytes("fills")], on: handle))
            let waiting = Task { try await loop.send([bytes("waits")], on: handle) }
            waiting.cancel()
            try await Deadline.run(seconds: 5) {
                await #expect(throws: CancellationError.self) { try await waiting.value }
            }
        }
    }
}

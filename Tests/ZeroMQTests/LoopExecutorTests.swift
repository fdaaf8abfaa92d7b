import Foundation
import Synchronization
import Testing
import ZeroMQ

@Suite struct LoopExecutorTests {
    @Test func tasksPreferringTheLoopRunOnItsThreadAcrossSuspensions() async throws {
        let context = try Context()
        try await Deadline.run(seconds: 30) {
            try await withSocketLoop(context: context, name: "test-exec", logger: .test) { loop in
                let pull = try Socket(context, .pull)
                let endpoint = try pull.bind("tcp://127.0.0.1:*")
                let (_, inbox) = try loop.addStream(pull, policy: .backpressure(capacity: 64))
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                let out = try loop.add(push, outboundCapacity: 16)
                #expect(!loop.isCurrentThread)
                let count = 2000
                let offLoop = Counter()
                // Many tasks on the loop: each sends a message (waiting for room in a small queue) and yields.
                try await withThrowingDiscardingTaskGroup { group in
                    for index in 0..<count {
                        group.addTask(executorPreference: loop.executor) {
                            if !loop.isCurrentThread { offLoop.increment() }
                            try await loop.send([bytes("\(index)")], on: out)
                            if !loop.isCurrentThread { offLoop.increment() }
                            await Task.yield()
                            if !loop.isCurrentThread { offLoop.increment() }
                        }
                    }
                }
                var received = Set<String>()
                for await message in inbox {
                    received.insert(String(decoding: message[0], as: UTF8.self))
                    if received.count == count { break }
                }
                #expect(received.count == count)
                #expect(offLoop.value == 0, "every step of every task ran on the loop thread")
            }
        }
    }

    @Test func aTaskResumedFromAnotherThreadContinuesOnTheLoop() async throws {
        let context = try Context()
        try await Deadline.run(seconds: 20) {
            try await withSocketLoop(context: context, name: "test-resume", logger: .test) { loop in
                let resumed = await Task(executorPreference: loop.executor) { () -> Bool in
                    let before = loop.isCurrentThread
                    let value = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
                        // Resumed by a thread that is neither the loop's nor the caller's.
                        Thread.detachNewThread { continuation.resume(returning: 42) }
                    }
                    return before && value == 42 && loop.isCurrentThread
                }.value
                #expect(resumed)
            }
        }
    }

    @Test func afterShutdownTasksPreferringTheLoopStillRun() async throws {
        let context = try Context()
        let loop = try SocketLoop(context: context, name: "test-stopped", logger: .test)
        loop.start()
        await loop.shutdown()
        let ran = try await Deadline.run(seconds: 10) {
            await Task(executorPreference: loop.executor) { () -> Bool in
                await Task.yield()
                return !loop.isCurrentThread
            }.value
        }
        #expect(ran, "the global executor ran it")
    }
}

import Foundation
import Logging
import Synchronization
import Testing
import ZeroMQ

@Suite struct SocketLoopTests {
    @Test(arguments: Transport.allCases)
    func pushPullThroughLoop(transport: Transport) async throws {
        let directory = try TemporaryDirectory()
        let context = try Context()
        try await Deadline.run(seconds: 20) {
            try await withSocketLoop(context: context, name: "test-loop", logger: .test) { loop in
                let pull = try Socket(context, .pull)
                let endpoint = try pull.bind(transport.endpoint(in: directory))
                let (_, inbox) = try loop.addStream(pull, policy: .backpressure(capacity: 64))
                let push = try Socket(context, .push)
                try push.connect(endpoint)
                let out = try loop.add(push, outboundCapacity: 16)
                let count = 5000
                let producer = Task {
                    for index in 0..<count {
                        try await loop.send([bytes("job"), bytes("\(index)")], on: out)
                    }
                }
                var received = 0
                for await message in inbox {
                    #expect(message == [bytes("job"), bytes("\(received)")])
                    received += 1
                    if received == count { break }
                }
                try await producer.value
                #expect(received == count)
                #expect(loop.statistics.sent == count)
            }
        }
    }
}

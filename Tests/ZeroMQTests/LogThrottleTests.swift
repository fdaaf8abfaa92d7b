import Testing

@testable import ZeroMQ

@Suite("Log throttle")
struct LogThrottleTests {
    @Test("lets a burst through per interval, then tells the next line how many it held back")
    func burstThenCount() {
        let throttle = LogThrottle(burst: 3, interval: 10)
        #expect((0..<3).map { _ in throttle.admit(now: 100) } == [0, 0, 0])
        #expect((0..<50).allSatisfy { _ in throttle.admit(now: 105) == nil })
        #expect(throttle.admit(now: 110) == 50, "the first line of the next interval says 50 were held back")
        #expect(throttle.admit(now: 110.5) == 0)
        #expect(LogThrottle.suffix(0).isEmpty)
        #expect(LogThrottle.suffix(1) == " (1 similar line held back)")
        #expect(LogThrottle.suffix(50) == " (50 similar lines held back)")
    }
}

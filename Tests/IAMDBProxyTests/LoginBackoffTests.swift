import NIOCore
import Testing

@testable import IAMDBProxy

/// The backoff of a login tried again (throttled, or on a read-only server): growing, jittered, capped, and only inside the deadline.
@Suite struct LoginBackoffTests {
    @Test func stepsDoubleFromFiftyMillisecondsToTwoSecondsWithinHalfToAllOfEachStep() {
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let farAway = now + .seconds(3_600)
        var lowest = LoginBackoff()
        var highest = LoginBackoff()
        var steps: [(Int64, Int64)] = []
        for _ in 0..<8 {
            steps.append((lowest.nextDelay(now: now, deadline: farAway, random: 0)!.nanoseconds / 1_000_000,
                          highest.nextDelay(now: now, deadline: farAway, random: 1)!.nanoseconds / 1_000_000))
        }
        #expect(steps.map(\.1) == [50, 100, 200, 400, 800, 1_600, 2_000, 2_000])
        #expect(steps.map(\.0) == [25, 50, 100, 200, 400, 800, 1_000, 1_000])
        #expect(highest.retries == 8)
    }

    @Test func noRetryThatCouldNotFinishBeforeTheHandshakeDeadline() {
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        var backoff = LoginBackoff()
        // 50 ms of wait and 100 ms of login room do not fit in 120 ms.
        #expect(backoff.nextDelay(now: now, deadline: now + .milliseconds(120), random: 1) == nil)
        #expect(backoff.retries == 0)
        #expect(backoff.nextDelay(now: now, deadline: now + .milliseconds(200), random: 1) == .milliseconds(50))
    }
}

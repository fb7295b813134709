import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The shutdown's bookkeeping: a second signal ends the drain's wait, but not the wait for the
/// ended sessions to finish closing (else the proxy exits before their shutdown errors are sent).
@Suite struct SessionTrackerTests {
    @Test func aStoppedDrainStillWaitsForEndedSessionsToClose() async throws {
        let tracker = SessionTracker()
        let channel = EmbeddedChannel()
        _ = tracker.opened(channel)
        tracker.stopWaiting()
        #expect(await tracker.waitUntilIdle(timeout: 30) == false, "the drain's wait ends at once")
        // Whether it registers before or after this second stopWaiting, only the close ends it.
        async let closing = tracker.waitUntilIdle(timeout: 30, outlastingStop: true)
        tracker.stopWaiting()
        tracker.closed(channel)
        #expect(await closing == true)
    }
}

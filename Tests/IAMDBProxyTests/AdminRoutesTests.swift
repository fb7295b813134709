import NIOHTTP1
import Synchronization
import Testing

@testable import IAMDBProxy

/// The admin routes against a stand-in proxy: what each asks of it, and when.
@Suite struct AdminRoutesTests {
    final class StandIn: AdminStatus {
        let shutdownRequests = Atomic<Int>(0)
        var isStarted: Bool { true }
        var isShuttingDown: Bool { false }
        var unboundListeners: [String] { [] }
        var fullReason: String? { nil }
        var warmShortfall: String? { nil }
        func metricsExposition() -> String { "" }
        var holdsCredentials: Bool { true }
        func checkCredentials() async throws {}
        func requestShutdown() { shutdownRequests.add(1, ordering: .relaxed) }
    }

    /// Regression: the shutdown was requested while the answer was still being made, so a proxy
    /// with nothing to drain could exit before writing it (curl saw an empty reply, now and then).
    @Test func quitquitquitShutsDownOnlyOnceItsAnswerIsSent() async throws {
        let proxy = StandIn()
        let response = await AdminRoutes(status: proxy, checks: []).respond(.POST, "/quitquitquit")
        #expect(response.status == .ok && response.body == "shutting down\n")
        #expect(proxy.shutdownRequests.load(ordering: .relaxed) == 0, "not before the answer has left")
        let afterSending = try #require(response.afterSending)
        afterSending()
        #expect(proxy.shutdownRequests.load(ordering: .relaxed) == 1)
        #expect(await AdminRoutes(status: proxy, checks: []).respond(.GET, "/quitquitquit").status == .methodNotAllowed)
    }
}

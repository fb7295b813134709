import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// Where `AuroraRouter` sends sessions: the cluster endpoint before any reading, the confirmed
/// writer after, waiting while it is in doubt; readers by fewest sessions, skipping one that
/// failed, falling back to the writer or refusing; and which sessions a writer change ends.
@Suite struct AuroraRouterTests {
    static let endpoint = HostAndPort(host: "app.cluster-abc.us-east-1.rds.amazonaws.com", port: 5432)
    static let pattern = "?.abc.us-east-1.rds.amazonaws.com"

    func router(_ role: AuroraRouter.Role) -> AuroraRouter {
        AuroraRouter(endpoint: Self.endpoint, pattern: Self.pattern, role: role, waitLimit: .seconds(5))
    }

    func target(_ router: AuroraRouter, _ loop: EmbeddedEventLoop) throws -> HostAndPort {
        try router.target(on: loop).wait()
    }

    @Test func writerSessionsUseTheClusterEndpointUntilAReadingThenTheWriterInstance() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.writer)
        #expect(try target(router, loop) == Self.endpoint)
        _ = router.confirm(writer: "app-1", readers: ["app-2"])
        #expect(try target(router, loop).host == "app-1.abc.us-east-1.rds.amazonaws.com")
    }

    @Test func whileInDoubtWriterSessionsWaitForTheConfirmedWriter() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.writer)
        _ = router.confirm(writer: "app-1", readers: ["app-2"])
        router.connectFailed(to: router.host(of: "app-1"))
        #expect(router.isInDoubt)
        let waiting = router.target(on: loop)
        let answer = NIOLockedValueBox<HostAndPort?>(nil)
        waiting.whenSuccess { host in answer.withLockedValue { $0 = host } }
        loop.run()
        #expect(answer.withLockedValue { $0 } == nil, "no answer while in doubt")
        _ = router.confirm(writer: "app-2", readers: ["app-1"])
        loop.run()
        #expect(answer.withLockedValue { $0 } == router.host(of: "app-2"))
    }

    @Test func aWaitEndsAtTheLimitWithTheReason() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.writer)
        _ = router.confirm(writer: "app-1", readers: [])
        router.doubt("the monitoring session on app-1 closed")
        let waiting = router.target(on: loop)
        loop.advanceTime(by: .seconds(5))
        #expect(throws: AuroraRouter.NoInstance.self) { try waiting.wait() }
        do { _ = try waiting.wait() } catch { #expect("\(error)".contains("the monitoring session on app-1 closed"), "\(error)") }
    }

    @Test func readersAreChosenByFewestSessionsAndOneThatFailedIsSkipped() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.reader(fallbackToWriter: true))
        _ = router.confirm(writer: "w", readers: ["r1", "r2"])
        let sessions = (0..<4).map { _ in EmbeddedChannel(loop: loop) }
        for session in sessions { router.sessionChose(session, try target(router, loop)) }
        #expect(router.sessionsPerHost == [router.host(of: "r1").host: 2, router.host(of: "r2").host: 2])
        router.sessionEnded(sessions[0])
        #expect(try target(router, loop) == router.host(of: "r1"), "r1 has one session left, r2 two")
        router.connectFailed(to: router.host(of: "r1"))
        #expect(try target(router, loop) == router.host(of: "r2"), "r1 failed a connect: skipped for a while")
        router.connectFailed(to: router.host(of: "r2"))
        #expect(try target(router, loop) == router.host(of: "w"), "no reader up: the writer")
    }

    @Test func withReaderFallbackFailNoReaderIsARefusal() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.reader(fallbackToWriter: false))
        _ = router.confirm(writer: "w", readers: [])
        #expect(throws: AuroraRouter.NoInstance.self) { try target(router, loop) }
    }

    @Test func aWriterChangeNamesTheSessionsNotOnTheNewWriter() throws {
        let loop = EmbeddedEventLoop()
        let router = router(.writer)
        let early = EmbeddedChannel(loop: loop)
        router.sessionChose(early, Self.endpoint)          // before any reading: instance unknown
        _ = router.confirm(writer: "app-1", readers: ["app-2"])
        let onOld = EmbeddedChannel(loop: loop)
        router.sessionChose(onOld, router.host(of: "app-1"))
        #expect(router.confirm(writer: "app-1", readers: ["app-2"]) == nil, "the same writer: no change")
        let change = try #require(router.confirm(writer: "app-2", readers: ["app-1"]))
        #expect(change.previous == "app-1")
        #expect(Set(change.sessions.map(ObjectIdentifier.init)) == [ObjectIdentifier(early), ObjectIdentifier(onOld)])
        router.sessionEnded(early)
        router.sessionEnded(onOld)
        let onNew = EmbeddedChannel(loop: loop)
        router.sessionChose(onNew, try target(router, loop))
        #expect(router.confirm(writer: "app-1", readers: ["app-2"])?.sessions.map(ObjectIdentifier.init) ?? [] == [ObjectIdentifier(onNew)])
    }
}

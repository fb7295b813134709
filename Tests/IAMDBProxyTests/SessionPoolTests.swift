import Logging
import NIOCore
import NIOEmbedded
import PostgresWire
import Testing

@testable import IAMDBProxy

/// The parked sessions of a `session_reuse` listener on EmbeddedChannels: which client loop may
/// take one, the bounds, the idle timer, and the PostgreSQL reset that precedes parking.
@Suite struct SessionPoolTests {
    let metrics = ProxyMetrics()

    func pool(_ change: (inout SessionReuseSettings) -> Void = { _ in }) -> SessionPool {
        var settings = SessionReuseSettings()
        settings.mode = .reuse
        change(&settings)
        return SessionPool(settings: settings, listener: "t", metrics: metrics, logger: Logger(label: "test"))
    }

    func connectedChannel(_ handlers: [any ChannelHandler] = [], to address: String = "127.0.0.1") throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(handlers)
        try channel.connect(to: SocketAddress(ipAddress: address, port: 5432)).wait()
        return channel
    }

    func parked(_ pool: SessionPool, on channel: EmbeddedChannel, key: String = "k", uses: Int = 1, bornAt: NIODeadline = .now()) -> SessionPool.Parked {
        SessionPool.Parked(id: pool.makeID(), key: key, keyDescription: "app@db", channel: channel, state: "state", bornAt: bornAt, uses: uses,
                           farewell: PostgresSessionReset.terminate)
    }

    func discards(_ reason: String) -> Bool {
        metrics.exposition(help: [:], families: []).contains("iam_db_proxy_session_reuse_discards_total{listener=\"t\",reason=\"\(reason)\"} 1")
    }

    @Test func aSessionGoesOnlyToAClientOnItsOwnEventLoopAndOnlyOnce() throws {
        let pool = pool()
        let channel = try connectedChannel()
        let elsewhere = EmbeddedEventLoop()
        #expect(pool.park(parked(pool, on: channel)) == nil)
        #expect(pool.parkedCount == 1)
        #expect(pool.take(key: "k", on: elsewhere) == nil)
        #expect(pool.take(key: "other", on: channel.eventLoop) == nil)
        #expect(pool.take(key: "k", on: channel.eventLoop)?.channel === channel)
        #expect(pool.take(key: "k", on: channel.eventLoop) == nil && pool.parkedCount == 0)
    }

    @Test func maxIdlePerKeyAndMaxTotalBoundThePoolAndTheRestIsClosedWithTerminate() throws {
        let pool = pool { $0.maxIdle = 1; $0.maxTotal = 2 }
        let channels = try (0..<4).map { _ in try connectedChannel() }
        #expect(pool.park(parked(pool, on: channels[0], key: "a")) == nil)
        #expect(pool.park(parked(pool, on: channels[1], key: "a")) == .poolFull)
        #expect(pool.park(parked(pool, on: channels[2], key: "b")) == nil)
        #expect(pool.park(parked(pool, on: channels[3], key: "c")) == .poolFull)
        for refused in [channels[1], channels[3]] {
            #expect(try refused.readOutbound(as: ByteBuffer.self) == PostgresSessionReset.terminate)
            #expect(!refused.isActive)
        }
        #expect(channels[0].isActive && pool.parkedCount == 2)
    }

    @Test func aParkedSessionWaitsIdleTimeoutAtMost() throws {
        let pool = pool { $0.idleTimeoutSeconds = 5 }
        let channel = try connectedChannel()
        pool.park(parked(pool, on: channel))
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(pool.parkedCount == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(pool.parkedCount == 0 && !channel.isActive && discards("idle_timeout"))
    }

    @Test func maxUsesMaxLifetimeAndShutdownRefuseAnotherClient() throws {
        let pool = pool { $0.maxUses = 3; $0.maxLifetimeSeconds = 60 }
        #expect(pool.refusal(uses: 2, bornAt: .now()) == nil)
        #expect(pool.refusal(uses: 3, bornAt: .now()) == .maxUses)
        #expect(pool.refusal(uses: 1, bornAt: .now() - .seconds(61)) == .maxLifetime)
        // Parked while young, handed out too old: closed at the hand-out instead.
        let channel = try connectedChannel()
        pool.park(parked(pool, on: channel))
        #expect(pool.take(key: "k", on: channel.eventLoop, now: .now() + .seconds(60)) == nil && !channel.isActive && discards("max_lifetime"))
        let last = try connectedChannel()
        pool.park(parked(pool, on: last))
        pool.closeAll()
        #expect(!last.isActive && pool.parkedCount == 0 && discards("shutdown"))
        #expect(pool.refusal(uses: 1, bornAt: .now()) == .shutdown)
    }

    @Test func aWriterChangeDropsEveryParkedSessionAndThePoolKeepsParking() throws {
        let pool = pool()
        let first = try connectedChannel(), second = try connectedChannel()
        pool.park(parked(pool, on: first, key: "a"))
        pool.park(parked(pool, on: second, key: "b"))
        pool.dropAllParked(detail: "db-1 is no longer the writer (db-2 is)")
        #expect(pool.parkedCount == 0 && !first.isActive && !second.isActive)
        #expect(metrics.exposition(help: [:], families: []).contains("iam_db_proxy_session_reuse_discards_total{listener=\"t\",reason=\"upstream_moved\"} 2"))
        let later = try connectedChannel()
        pool.park(parked(pool, on: later))
        #expect(pool.parkedCount == 1, "not a shutdown: sessions on the new writer park as before")
    }

    @Test func parkedSessionsOnAnAddressTheUpstreamNoLongerHasAreClosed() throws {
        let pool = pool()
        let staying = try connectedChannel(to: "127.0.0.1")
        let moved = try connectedChannel(to: "127.0.0.2")
        pool.park(parked(pool, on: staying))
        pool.park(parked(pool, on: moved))
        pool.dropParked(notAt: [], host: "db.example")
        #expect(pool.parkedCount == 2, "a lookup that found nothing is no move")
        pool.dropParked(notAt: [try SocketAddress(ipAddress: "::1", port: 5432), try SocketAddress(ipAddress: "127.0.0.1", port: 5432)], host: "db.example")
        #expect(pool.parkedCount == 1 && staying.isActive && !moved.isActive && discards("upstream_moved"))
        #expect(SystemAddressLookup.all(host: "localhost", port: 5432).contains { $0.ipAddress == "127.0.0.1" && $0.port == 5432 })
    }

    // MARK: The PostgreSQL reset

    static let session = PostgresLoggedInSession(parameters: [("application_name", "first")], serverKey: BackendKey(processID: 7, secretKey: [1, 2, 3, 4]))

    func message(_ type: Character, _ body: String) -> ByteBuffer {
        BackendMessage(type: UInt8(ascii: type.unicodeScalars.first!), body: ByteBuffer(string: body)).wireBytes
    }

    func resettingChannel(_ pool: SessionPool) throws -> EmbeddedChannel {
        let channel = try connectedChannel()
        let template = parked(pool, on: channel)
        try channel.pipeline.syncOperations.addHandler(ParkedSessionHandler(
            pool: pool, parked: template, reset: PostgresSessionReset(session: Self.session), timeout: .seconds(10), metrics: (metrics, listener: "t")))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == FrontendMessages.query("DISCARD ALL"))
        return channel
    }

    @Test func anExactAnswerParksTheSessionWithTheResetParametersAndItIsWatchedWhileParked() throws {
        let pool = pool()
        let channel = try resettingChannel(pool)
        var answer = message("C", "DISCARD ALL\0")
        answer.writeImmutableBuffer(message("S", "application_name\0\0"))
        try channel.writeInbound(answer.getSlice(at: 0, length: 7)!)
        #expect(pool.parkedCount == 0, "not before the whole answer")
        try channel.writeInbound(answer.getSlice(at: 7, length: answer.readableBytes - 7)!)
        try channel.writeInbound(message("Z", "I"))
        #expect(pool.parkedCount == 1)
        let taken = try #require(pool.take(key: "k", on: channel.eventLoop))
        let state = try #require(taken.state as? PostgresLoggedInSession)
        #expect(state.parameters.map(\.value) == [""], "the next client's greeting has the reset value")
        pool.park(taken)
        // A server that speaks to a parked session (a timeout, a termination) loses it.
        try channel.writeInbound(message("E", "SFATAL\0C57P01\0\0"))
        #expect(pool.parkedCount == 0 && !channel.isActive && discards("server_closed"))
    }

    @Test(arguments: ["error", "timeout", "closed"])
    func aResetThatDoesNotAnswerExactlyClosesTheSession(_ way: String) throws {
        let pool = pool()
        let channel = try resettingChannel(pool)
        switch way {
        case "error": try channel.writeInbound(message("E", "SERROR\0C25001\0\0"))
        case "timeout": channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        default: channel.pipeline.fireChannelInactive()
        }
        #expect(pool.parkedCount == 0 && discards("reset_failed"))
        #expect(metrics.exposition(help: [:], families: []).contains("iam_db_proxy_session_reuse_resets_total{listener=\"t\",result=\"failed\"} 1"))
        if way != "closed" {
            #expect(try channel.readOutbound(as: ByteBuffer.self) == PostgresSessionReset.terminate)
            #expect(!channel.isActive)
        }
    }
}

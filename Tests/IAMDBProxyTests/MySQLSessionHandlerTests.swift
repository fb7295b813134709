import MySQLWire
import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The MySQL session handler on an EmbeddedChannel, up to its dial (held by a `HeldResolver`):
/// the proxy's own greeting, refused users, floods before login and timeouts, byte for byte.
@Suite struct MySQLSessionHandlerTests {
    let resolver = HeldResolver()
    let sessions = MySQLSessionRegistry()

    func connectedChannel(users: [String]? = nil) throws -> EmbeddedChannel {
        let runtime = try TestRuntime.make(engine: .mysql, users: users, credentials: SilentCredentials(), resolver: resolver)
        let channel = EmbeddedChannel(handler: MySQLSessionHandler(runtime: runtime, state: MySQLListenerState(sessions: sessions)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        return channel
    }

    /// The packets the proxy wrote, in order.
    func packets(_ channel: EmbeddedChannel) throws -> [PacketFrame] {
        var all = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        var frames: [PacketFrame] = []
        while let frame = PacketFrame.decode(from: &all) { frames.append(frame) }
        #expect(all.readableBytes == 0)
        return frames
    }

    static func response(user: String) -> ByteBuffer {
        var frame = ByteBuffer()
        let response = HandshakeResponse(capabilities: .minimalClient, characterSet: 45, user: user, authPluginName: "mysql_clear_password")
        PacketFrame(sequenceID: 1, payload: response.encode()).encode(into: &frame)
        return frame
    }

    @Test func theProxyGreetsFirstWithAnIDFromItsOwnRange() throws {
        let channel = try connectedChannel()
        let frames = try packets(channel)
        let greeting = try ServerGreeting(payload: try #require(frames.first).payload)
        #expect(frames.count == 1 && frames[0].sequenceID == 0)
        #expect(MySQLSessionRegistry.proxyIDs.contains(UInt64(greeting.connectionID)))
        #expect(resolver.dials.isEmpty, "nothing is dialed before the client answers")
    }

    @Test func aUserOutsideTheListIsRefusedWithoutDialing() throws {
        let channel = try connectedChannel(users: ["app"])
        _ = try packets(channel)
        try channel.writeInbound(Self.response(user: "intruder"))
        let error = try ErrorPacket(payload: try #require(try packets(channel).first).payload)
        #expect(error.code == 1045 && error.sqlState == "28000")
        #expect(resolver.dials.isEmpty)
        #expect(!channel.isActive)
    }

    @Test func moreThan64KiBBeforeLoginEndsTheSessionWithBadHandshake() throws {
        let channel = try connectedChannel()
        _ = try packets(channel)
        try channel.writeInbound(Self.response(user: "app"))
        #expect(resolver.dials.count == 1)
        try channel.writeInbound(ByteBuffer(repeating: 0, count: MySQLSessionHandler.maximumPendingClientBytes + 1))
        let error = try ErrorPacket(payload: try #require(try packets(channel).first).payload)
        #expect(error.code == 1043, "\(error)")
        #expect(!channel.isActive)
        resolver.failAll()
    }

    @Test func noHandshakeResponseInTimeGetsBadHandshake() throws {
        let channel = try connectedChannel()
        _ = try packets(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        let error = try ErrorPacket(payload: try #require(try packets(channel).first).payload)
        #expect(error.code == 1043 && error.message.contains("no handshake response within 10.0 s"), "\(error)")
        #expect(!channel.isActive)
    }

    /// A failover that ended a session still logging in used to close it without a word.
    @Test func aSessionEndedWhileLoggingInIsToldWhy() throws {
        let channel = try connectedChannel()
        _ = try packets(channel)
        try channel.writeInbound(Self.response(user: "app"))
        channel.pipeline.fireUserInboundEventTriggered(SessionEndRequest(reason: .failover(instance: "instance-a", writer: "instance-b")))
        let error = try ErrorPacket(payload: try #require(try packets(channel).first).payload)
        #expect(error.message.contains("closed before login finished: the cluster failed over: instance-a is no longer the writer (instance-b is)"),
                "\(error)")
        #expect(!channel.isActive)
        resolver.failAll()
    }

    @Test func aLoginThatDoesNotFinishInTimeNamesTheLimit() throws {
        let channel = try connectedChannel()
        _ = try packets(channel)
        try channel.writeInbound(Self.response(user: "app"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        let error = try ErrorPacket(payload: try #require(try packets(channel).first).payload)
        #expect(error.code == 1429 && error.message.contains("did not finish within 10.0 s"), "\(error)")
        #expect(!channel.isActive)
        resolver.failAll()
    }
}

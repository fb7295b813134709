import NIOCore
import NIOEmbedded
import PostgresWire
import Testing

@testable import IAMDBProxy

/// The PostgreSQL session handler on an EmbeddedChannel, up to its dial (held by a
/// `HeldResolver`): what a client sees for negotiation floods, refused users, bytes pipelined
/// behind requests, floods before login and timeouts, byte for byte.
@Suite struct PostgresSessionHandlerTests {
    let resolver = HeldResolver()

    func connectedChannel(users: [String]? = nil) throws -> EmbeddedChannel {
        let runtime = try TestRuntime.make(engine: .postgres, users: users, credentials: SilentCredentials(), resolver: resolver)
        let channel = EmbeddedChannel(handler: PostgresSessionHandler(runtime: runtime, cancels: CancelRegistry()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        return channel
    }

    static let startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [("user", "app"), ("database", "appdb")])

    func error(in bytes: inout ByteBuffer) throws -> ErrorResponse {
        let message = try #require(try BackendMessage.decode(from: &bytes))
        #expect(message.type == BackendMessage.errorResponse)
        return try ErrorResponse(body: message.body)
    }

    func written(_ channel: EmbeddedChannel) throws -> ByteBuffer {
        var all = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        return all
    }

    @Test func negotiationFloodGetsOneNThenAnErrorAndTheConnectionCloses() throws {
        let channel = try connectedChannel()
        var flood = ByteBuffer()
        for _ in 0..<10_000 { flood.writeImmutableBuffer(FrontendMessages.sslRequest()) }
        try channel.writeInbound(flood)
        var bytes = try written(channel)
        #expect(bytes.readInteger(as: UInt8.self) == UInt8(ascii: "N"))
        let message = try #require(try BackendMessage.decode(from: &bytes))
        #expect(try ErrorResponse(body: message.body).sqlState == "08P01")
        #expect(bytes.readableBytes == 0)
        #expect(!channel.isActive)
    }

    @Test func aUserOutsideTheListIsRefusedWithoutDialing() throws {
        let channel = try connectedChannel(users: ["app"])
        try channel.writeInbound(FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [("user", "intruder")]))
        var bytes = try written(channel)
        let message = try #require(try BackendMessage.decode(from: &bytes))
        #expect(try ErrorResponse(body: message.body).sqlState == "28000")
        #expect(!channel.isActive)
    }

    @Test func anOversizedStartupIsRefusedFromItsLength() throws {
        let channel = try connectedChannel()
        var header = ByteBuffer()
        header.writeMultipleIntegers(Int32(1_000_000), Int32(196_608))
        try channel.writeInbound(header)
        var bytes = try written(channel)
        let message = try #require(try BackendMessage.decode(from: &bytes))
        #expect(try ErrorResponse(body: message.body).sqlState == "08P01")
        #expect(!channel.isActive)
    }

    @Test func aStartupPipelinedBehindTheSSLRequestIsReadAfterTheN() throws {
        let channel = try connectedChannel()
        var both = FrontendMessages.sslRequest()
        both.writeImmutableBuffer(Self.startup)
        try channel.writeInbound(both)
        #expect(try written(channel) == ByteBuffer(bytes: [UInt8(ascii: "N")]))
        #expect(resolver.dials.count == 1, "the startup behind the request was read, and the upstream dialed")
        #expect(channel.isActive)
        resolver.failAll()
    }

    @Test func moreThan64KiBBeforeLoginEndsTheSessionWith08P01() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.startup)
        try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "Q"), count: PostgresSessionHandler.maximumPendingClientBytes))
        #expect(channel.isActive, "up to the limit is kept")
        try channel.writeInbound(ByteBuffer(bytes: [0]))
        var bytes = try written(channel)
        #expect(try error(in: &bytes).sqlState == "08P01")
        #expect(!channel.isActive)
        resolver.failAll()
    }

    @Test func aLoginThatDoesNotFinishInTimeIsTold08001WithTheLimit() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.startup)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        var bytes = try written(channel)
        let response = try error(in: &bytes)
        #expect(response.sqlState == "08001" && response.message.contains("did not finish within 10.0 s"), "\(response)")
        #expect(!channel.isActive)
        resolver.failAll()
    }

    /// A failover or shutdown that ends a session still logging in used to close it without a
    /// word, and log it as "the proxy is shutting down" whatever the reason.
    @Test(arguments: [
        (SessionEndReason.failover(instance: "instance-a", writer: "instance-b"), "the cluster failed over: instance-a is no longer the writer (instance-b is)"),
        (SessionEndReason.shutdown, "the proxy is shutting down"),
    ])
    func aSessionEndedWhileLoggingInIsToldWhy(reason: SessionEndReason, said: String) throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.startup)
        channel.pipeline.fireUserInboundEventTriggered(SessionEndRequest(reason: reason))
        var bytes = try written(channel)
        let response = try error(in: &bytes)
        #expect(response.sqlState == "08001" && response.message == "closed before login finished: \(said)", "\(response)")
        #expect(!channel.isActive)
        resolver.failAll()
    }

    @Test func aClientThatNeverSendsAStartupIsClosedWithoutAWord() throws {
        let channel = try connectedChannel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try written(channel).readableBytes == 0)
        #expect(!channel.isActive)
        #expect(resolver.dials.isEmpty)
    }

    @Test func directTLSWithoutClientTLSIsClosedWithoutAWord() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(ByteBuffer(bytes: [PostgresSessionHandler.tlsRecordType, 3, 1, 0, 0]))
        #expect(try written(channel).readableBytes == 0)
        #expect(!channel.isActive)
    }

    @Test func anUnreachableUpstreamIsTold08001NamingIt() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.startup)
        resolver.failAll()
        var bytes = try written(channel)
        let response = try error(in: &bytes)
        #expect(response.sqlState == "08001" && response.message.contains("cannot connect to db.example:5432"), "\(response)")
        #expect(!channel.isActive)
    }
}

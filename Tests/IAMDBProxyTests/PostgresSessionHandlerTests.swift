import NIOCore
import NIOEmbedded
import PostgresWire
import Testing

@testable import IAMDBProxy

/// The PostgreSQL session handler before it dials, on an EmbeddedChannel: what a client sees
/// for negotiation floods, refused users and floods before login, byte for byte.
@Suite struct PostgresSessionHandlerTests {
    func connectedChannel(users: [String]? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: PostgresSessionHandler(runtime: try TestRuntime.make(engine: .postgres, users: users), cancels: CancelRegistry()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        return channel
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
}

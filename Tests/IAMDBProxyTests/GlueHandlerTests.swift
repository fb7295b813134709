import NIOCore
import NIOEmbedded
import Testing

@testable import IAMDBProxy

/// The relay's back-pressure on two EmbeddedChannels: a side reads again only while its
/// partner can take the bytes.
@Suite struct GlueHandlerTests {
    @Test func aSideStopsReadingWhileItsPartnerIsNotWritable() throws {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair()
        let client = EmbeddedChannel(), upstream = EmbeddedChannel()
        let clientReads = ReadCounter()
        try client.pipeline.syncOperations.addHandlers(clientReads, clientGlue)
        try upstream.pipeline.syncOperations.addHandler(upstreamGlue)

        client.read()
        #expect(clientReads.reads == 1)
        upstream.isWritable = false
        upstream.pipeline.fireChannelWritabilityChanged()
        client.read()
        #expect(clientReads.reads == 1, "no read while the upstream cannot take more")
        upstream.isWritable = true
        upstream.pipeline.fireChannelWritabilityChanged()
        #expect(clientReads.reads == 2, "the held read goes out once the upstream drains")

        try client.writeInbound(ByteBuffer(string: "SELECT 1"))
        client.pipeline.fireChannelReadComplete()
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "SELECT 1"))
        #expect(clientGlue.bytesRead == 8)
        _ = try? client.finish()
        _ = try? upstream.finish()
    }

    @Test func whenOneSideClosesTheOtherIsClosedAfterItsQueuedBytes() throws {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair()
        let client = EmbeddedChannel(handler: clientGlue), upstream = EmbeddedChannel(handler: upstreamGlue)
        try upstream.writeInbound(ByteBuffer(string: "last rows"))
        try upstream.close().wait()
        #expect(try client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "last rows"))
        #expect(!client.isActive)
    }

    // MARK: Ending a session between two server messages

    /// Two PostgreSQL-framed server messages: DataRow 'D' (body 6) and ReadyForQuery 'Z' (body 1).
    static let dataRow: [UInt8] = [0x44, 0, 0, 0, 10, 0, 1, 0, 0, 0, 0]
    static let readyForQuery: [UInt8] = [0x5A, 0, 0, 0, 5, 0x49]
    static let notice = ByteBuffer(string: "NOTICE")

    func endingPair() throws -> (client: EmbeddedChannel, upstream: EmbeddedChannel) {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair(serverStream: FramedServerStream<PostgresMessageFraming>(notice: { reason in
            switch reason {
            case .shutdown: Self.notice
            case .failover(let instance, let writer): ByteBuffer(string: "FAILOVER \(instance)->\(writer)")
            }
        }))
        let client = EmbeddedChannel(handler: clientGlue), upstream = EmbeddedChannel(handler: upstreamGlue)
        try client.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.connect(to: .init(ipAddress: "127.0.0.1", port: 2)).wait()
        return (client, upstream)
    }

    func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    @Test func anEndRequestBetweenMessagesSendsTheNoticeAndClosesBothSides() throws {
        let (client, upstream) = try endingPair()
        try upstream.writeInbound(ByteBuffer(bytes: Self.dataRow + Self.readyForQuery))
        client.pipeline.fireUserInboundEventTriggered(SessionEndRequest())
        #expect(try written(client) == Self.dataRow + Self.readyForQuery + Array("NOTICE".utf8))
        #expect(!client.isActive && !upstream.isActive)
    }

    @Test func aFailoverEndsTheSessionWithItsOwnNoticeAtTheNextBoundary() throws {
        let (client, upstream) = try endingPair()
        try upstream.writeInbound(ByteBuffer(bytes: Self.dataRow[0..<4]))
        client.pipeline.fireUserInboundEventTriggered(SessionEndRequest(reason: .failover(instance: "db-1", writer: "db-2")))
        try upstream.writeInbound(ByteBuffer(bytes: Array(Self.dataRow[4...]) + Self.readyForQuery))
        #expect(try written(client) == Self.dataRow + Array("FAILOVER db-1->db-2".utf8))
        #expect(!client.isActive && !upstream.isActive)
    }

    @Test func anEndRequestInsideAMessageWaitsForItsEnd() throws {
        let (client, upstream) = try endingPair()
        let row = Self.dataRow
        // The server's message arrives split inside its header, then inside its body.
        try upstream.writeInbound(ByteBuffer(bytes: row[0..<3]))
        client.pipeline.fireUserInboundEventTriggered(SessionEndRequest())
        #expect(client.isActive, "the client must not get half a message and then an error")
        try upstream.writeInbound(ByteBuffer(bytes: row[3..<8]))
        #expect(client.isActive)
        // The rest of the row and the next message in one read: the row is finished, the rest left out.
        try upstream.writeInbound(ByteBuffer(bytes: Array(row[8...]) + Self.readyForQuery))
        #expect(try written(client) == row + Array("NOTICE".utf8))
        #expect(!client.isActive && !upstream.isActive)
    }

    @Test func aServerThatStallsInsideAMessageIsClosedAfterTheWait() throws {
        let (client, upstream) = try endingPair()
        try upstream.writeInbound(ByteBuffer(bytes: Self.dataRow[0..<7]))
        client.pipeline.fireUserInboundEventTriggered(SessionEndRequest())
        upstream.embeddedEventLoop.advanceTime(by: SessionEndRequest.boundaryWait)
        #expect(!upstream.isActive && !client.isActive)
        #expect(try written(client) == Array(Self.dataRow[0..<7]), "no notice inside a message")
    }
}

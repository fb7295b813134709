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
}

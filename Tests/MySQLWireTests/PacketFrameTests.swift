import NIOCore
import Testing

@testable import MySQLWire

@Suite struct PacketFrameTests {
    @Test func roundTripsAndWaitsForWholePackets() {
        let frame = PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0x0E]))
        var encoded = ByteBuffer()
        frame.encode(into: &encoded)
        #expect(Array(encoded.readableBytesView) == [1, 0, 0, 3, 0x0E])
        var partial = ByteBuffer(bytes: Array(encoded.readableBytesView.prefix(4)))
        #expect(PacketFrame.decode(from: &partial) == nil)
        #expect(partial.readerIndex == 0)
        #expect(PacketFrame.decode(from: &encoded) == frame)
    }

    @Test func decodesLengthLittleEndian() {
        var buffer = ByteBuffer(bytes: [0x01, 0x01, 0x00, 0x00] + Array(repeating: 7, count: 257))
        #expect(PacketFrame.decode(from: &buffer)?.payload.readableBytes == 257)
    }
}

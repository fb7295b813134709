import NIOCore

/// One MySQL packet: a 3-byte little-endian payload length, a 1-byte sequence id, the
/// payload. A payload of exactly 0xFFFFFF bytes continues in the next packet.
public struct PacketFrame: Sendable, Equatable {
    public static let maximumPayloadLength = 0xFF_FFFF
    public var sequenceID: UInt8
    public var payload: ByteBuffer

    public init(sequenceID: UInt8, payload: ByteBuffer) {
        self.sequenceID = sequenceID
        self.payload = payload
    }

    /// Returns nil (reader index untouched) until the whole packet is buffered.
    public static func decode(from buffer: inout ByteBuffer) -> PacketFrame? {
        guard let (length, sequenceID) = header(in: buffer, at: buffer.readerIndex),
            buffer.readableBytes >= 4 + length
        else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let payload = buffer.readSlice(length: length)!
        return PacketFrame(sequenceID: sequenceID, payload: payload)
    }

    /// The payload length and sequence id of the header at `index`, read without allocating.
    static func header(in buffer: ByteBuffer, at index: Int) -> (length: Int, sequenceID: UInt8)? {
        guard let word = buffer.getInteger(at: index, endianness: .little, as: UInt32.self) else { return nil }
        return (Int(word & 0xFF_FFFF), UInt8(word >> 24))
    }

    public func encode(into buffer: inout ByteBuffer) {
        precondition(payload.readableBytes <= Self.maximumPayloadLength, "split payloads of 16 MiB or more")
        let length = payload.readableBytes
        buffer.writeBytes([UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), sequenceID])
        buffer.writeImmutableBuffer(payload)
    }
}

import NIOCore

/// Where the messages of one relayed direction begin, counted as the bytes pass: enough to
/// know whether the stream is between two messages, so a session can be ended with the
/// engine's own error instead of a cut inside a message. Pure; no copy, no allocation unless a
/// header is split between reads, and one header read per message.
struct MessageCursor<Framing: MessageFraming> {
    /// Body bytes of the current message not yet passed.
    private var remainingBody = 0
    /// A header split between reads (at most `headerLength - 1` bytes).
    private var partialHeader = ByteBuffer()

    var isAtBoundary: Bool { remainingBody == 0 && partialHeader.readableBytes == 0 }

    /// Moves over `bytes`. With `stoppingAtBoundary`, stops at the first message boundary
    /// (right away when already at one). Returns how many bytes it moved over.
    @discardableResult
    mutating func advance(over bytes: ByteBuffer, stoppingAtBoundary: Bool = false) -> Int {
        let start = bytes.readerIndex
        let end = bytes.writerIndex
        var index = start
        while index < end {
            if stoppingAtBoundary, isAtBoundary { break }
            if remainingBody > 0 {
                let count = min(remainingBody, end - index)
                remainingBody -= count
                index += count
                continue
            }
            let header: Framing.Header
            if partialHeader.readableBytes == 0, end - index >= Framing.headerLength {
                header = Framing.header(in: bytes, at: index)
                index += Framing.headerLength
            } else {
                let count = min(Framing.headerLength - partialHeader.readableBytes, end - index)
                if let piece = bytes.getSlice(at: index, length: count) { partialHeader.writeImmutableBuffer(piece) }
                index += count
                guard partialHeader.readableBytes == Framing.headerLength else { break }
                header = Framing.header(in: partialHeader, at: partialHeader.readerIndex)
                partialHeader.clear()
            }
            remainingBody = Framing.bodyLength(of: header)
        }
        return index - start
    }
}

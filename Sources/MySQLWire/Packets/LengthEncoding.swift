import NIOCore

extension ByteBuffer {
    /// A length-encoded integer: one byte below 0xFB, else 0xFC/0xFD/0xFE and 2/3/8 bytes.
    mutating func readLengthEncodedInteger() -> UInt64? {
        guard let first = getInteger(at: readerIndex, as: UInt8.self) else { return nil }
        let width: Int
        switch first {
        case 0..<0xFB:
            moveReaderIndex(forwardBy: 1)
            return UInt64(first)
        case 0xFC: width = 2
        case 0xFD: width = 3
        case 0xFE: width = 8
        default: return nil
        }
        guard let bytes = getBytes(at: readerIndex + 1, length: width) else { return nil }
        moveReaderIndex(forwardBy: 1 + width)
        return bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
    }

    mutating func writeLengthEncodedInteger(_ value: UInt64) {
        switch value {
        case 0..<0xFB: writeInteger(UInt8(value))
        case 0..<0x1_0000:
            writeInteger(UInt8(0xFC))
            writeInteger(UInt16(value), endianness: .little)
        case 0..<0x100_0000:
            writeInteger(UInt8(0xFD))
            writeInteger(UInt16(value & 0xFFFF), endianness: .little)
            writeInteger(UInt8(value >> 16))
        default:
            writeInteger(UInt8(0xFE))
            writeInteger(value, endianness: .little)
        }
    }

    /// Bytes up to (not including) a NUL, which is consumed; nil when there is no NUL.
    mutating func readNullTerminatedBytes() -> ByteBuffer? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let slice = readSlice(length: end - readableBytesView.startIndex)
        moveReaderIndex(forwardBy: 1)
        return slice
    }
}

import NIOCore

/// The stale-DNS guard's question to a MySQL server a writer listener just logged in to: is it
/// read-only? `@@read_only` is on for RDS MySQL/MariaDB replicas, `@@innodb_read_only` for
/// Aurora MySQL readers; one text result, `0` or `1`. Reads the answer packet by packet, with
/// or without CLIENT_DEPRECATE_EOF. Pure.
public struct MySQLWritableCheck: Sendable {
    public enum Outcome: Sendable, Equatable {
        case pending
        case writable
        case readOnly
        case failed(String)
    }

    public static let query = "SELECT @@global.read_only OR @@global.innodb_read_only"

    /// COM_QUERY, a command of its own (sequence id 0).
    public static var request: ByteBuffer {
        var payload = ByteBuffer(bytes: [0x03])
        payload.writeString(query)
        var packet = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: payload).encode(into: &packet)
        return packet
    }

    private var packets = 0
    private var value: String?

    public init() {}

    public mutating func packet(_ frame: PacketFrame) -> Outcome {
        packets += 1
        var payload = frame.payload
        guard let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else { return .failed("an empty packet") }
        if first == 0xFF {
            return .failed((try? ErrorPacket(payload: frame.payload)).map { "\($0)" } ?? "an unreadable error")
        }
        switch packets {
        case 1: return first == 0x01 ? .pending : .failed("not a one-column result")
        case 2: return .pending  // the column's definition
        default: break
        }
        let isEOF = first == 0xFE && payload.readableBytes < 9
        guard let value else {
            if isEOF { return .pending }  // the definitions' EOF (without CLIENT_DEPRECATE_EOF)
            guard let length = payload.readLengthEncodedInteger(), length < 16, let text = payload.readString(length: Int(length)) else {
                return .failed("an unreadable row")
            }
            self.value = text
            return .pending
        }
        return value == "0" ? .writable : .readOnly
    }
}

import NIOCore
import PostgresWire

/// PostgreSQL messages after startup: a type byte, then a 4-byte length that counts itself.
enum PostgresMessageFraming: MessageFraming {
    struct Header: Sendable {
        let type: UInt8
        let bodyLength: Int
    }

    static var headerLength: Int { 5 }

    static func header(in buffer: ByteBuffer, at index: Int) -> Header {
        let type = buffer.getInteger(at: index, as: UInt8.self) ?? 0
        let length = Int(buffer.getInteger(at: index + 1, as: UInt32.self) ?? 4)
        return Header(type: type, bodyLength: max(0, length - 4))
    }

    static func bodyLength(of header: Header) -> Int { header.bodyLength }
}

/// The trace-level summary of one direction of a relayed PostgreSQL session: messages by
/// type and, from the server, the transaction status of the last ReadyForQuery — the first
/// user of the relay's message observer, and a cheap way to see it work.
final class PostgresWireSummary: RelayMessageObserver, WireSummary {
    typealias Framing = PostgresMessageFraming
    /// By type byte: a fixed table, so counting a message is an array increment.
    private var counts = [Int](repeating: 0, count: 256)
    /// `I` idle, `T` in a transaction, `E` in a failed transaction.
    private(set) var transactionStatus: UInt8?

    func wantsBody(_ header: Framing.Header) -> Bool { header.type == BackendMessage.readyForQuery }

    func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict {
        counts[Int(header.type)] += 1
        if header.type == BackendMessage.readyForQuery, let body, let status = body.getInteger(at: body.readerIndex, as: UInt8.self) {
            transactionStatus = status
        }
        return .forward
    }

    var summary: String {
        let seen = Dictionary(uniqueKeysWithValues: counts.indices.filter { counts[$0] > 0 }.map { (UInt8($0), counts[$0]) })
        var parts = WireSummaryText.counts(seen) { String(UnicodeScalar($0)) }
        if let transactionStatus { parts += ",status=\(String(UnicodeScalar(transactionStatus)))" }
        return parts
    }
}

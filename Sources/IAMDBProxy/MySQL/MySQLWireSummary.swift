import NIOCore

/// MySQL packets: a 3-byte little-endian payload length and a sequence id. A payload of
/// 16 MiB - 1 continues in the next packet; each packet is still framed the same way.
enum MySQLPacketFraming: MessageFraming {
    struct Header: Sendable {
        let payloadLength: Int
        let sequenceID: UInt8
    }

    static var headerLength: Int { 4 }

    static func header(in buffer: ByteBuffer, at index: Int) -> Header {
        let low = Int(buffer.getInteger(at: index, endianness: .little, as: UInt16.self) ?? 0)
        let high = Int(buffer.getInteger(at: index + 2, as: UInt8.self) ?? 0)
        return Header(payloadLength: low | high << 16, sequenceID: buffer.getInteger(at: index + 3, as: UInt8.self) ?? 0)
    }

    static func bodyLength(of header: Header) -> Int { header.payloadLength }
}

/// The trace-level summary of one direction of a relayed MySQL session: packets, and how
/// many began a command or a reply (sequence id 0 from the client, 1 from the server).
final class MySQLWireSummary: RelayMessageObserver, WireSummary {
    typealias Framing = MySQLPacketFraming
    private var packets = 0
    private var firstPackets = 0
    private let firstSequenceID: UInt8

    /// `fromClient`: the client's packets (commands start at sequence id 0), else the server's.
    init(fromClient: Bool) { firstSequenceID = fromClient ? 0 : 1 }

    func wantsBody(_ header: Framing.Header) -> Bool { false }

    func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict {
        packets += 1
        if header.sequenceID == firstSequenceID { firstPackets += 1 }
        return .forward
    }

    var summary: String { "packets=\(packets),\(firstSequenceID == 0 ? "commands" : "replies")=\(firstPackets)" }
}

import NIOCore

/// Reads an Aurora MySQL cluster's topology on a logged-in session (no CLIENT_DEPRECATE_EOF):
/// one COM_QUERY over `information_schema.replica_host_status` whose rows also carry the
/// answering server's `@@innodb_read_only` (1 on a reader) and clock, so one statement says
/// both; timestamps come as epoch seconds. The text result set is read packet by packet. Pure.
public struct AuroraMySQLTopologyQuery: Sendable {
    public struct Reading: Sendable, Equatable {
        /// The answering server is read-only (an Aurora reader).
        public var readOnly: Bool
        public var serverNow: Double
        public var rows: [Row]

        public init(readOnly: Bool, serverNow: Double, rows: [Row]) {
            self.readOnly = readOnly
            self.serverNow = serverNow
            self.rows = rows
        }
    }

    public struct Row: Sendable, Equatable {
        public var serverID: String
        public var sessionID: String
        /// Epoch seconds; nil when NULL.
        public var lastUpdate: Double?

        public init(serverID: String, sessionID: String, lastUpdate: Double?) {
            self.serverID = serverID
            self.sessionID = sessionID
            self.lastUpdate = lastUpdate
        }
    }

    public enum Outcome: Sendable, Equatable {
        case pending
        case read(Reading)
        case failed(String)
    }

    public static let statement = "SELECT SERVER_ID, SESSION_ID, UNIX_TIMESTAMP(LAST_UPDATE_TIMESTAMP), @@innodb_read_only, UNIX_TIMESTAMP(NOW(6)) "
        + "FROM information_schema.replica_host_status"
    static let columns = 5
    /// Bounds what a misbehaving server can make the proxy read for one reading.
    static let maximumPackets = 10_000

    private enum Phase { case columnCount, definitions(left: Int), definitionsEnd, rows }

    private var phase = Phase.columnCount
    private var packets = 0
    private var rows: [[String?]] = []

    public init() {}

    /// COM_QUERY, a command of its own (sequence id 0).
    public var request: ByteBuffer {
        var payload = ByteBuffer(bytes: [0x03])
        payload.writeString(Self.statement)
        var packet = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: payload).encode(into: &packet)
        return packet
    }

    public mutating func packet(_ frame: PacketFrame) -> Outcome {
        packets += 1
        guard packets <= Self.maximumPackets else { return .failed("the answer to the topology query exceeds \(Self.maximumPackets) packets") }
        var payload = frame.payload
        guard let first = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else { return .failed("an empty packet in the topology answer") }
        if first == 0xFF {
            return .failed("the topology query failed: " + ((try? ErrorPacket(payload: frame.payload)).map { "\($0)" } ?? "an unreadable error"))
        }
        switch phase {
        case .columnCount:
            guard let count = payload.readLengthEncodedInteger(), count == Self.columns else { return .failed("the topology query's answer does not have \(Self.columns) columns") }
            phase = .definitions(left: Self.columns)
        case .definitions(let left):
            phase = left > 1 ? .definitions(left: left - 1) : .definitionsEnd
        case .definitionsEnd:
            guard first == 0xFE else { return .failed("no EOF after the topology answer's column definitions") }
            phase = .rows
        case .rows:
            if first == 0xFE, payload.readableBytes < 9 { return reading() }
            var row: [String?] = []
            for _ in 0..<Self.columns {
                if payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 0xFB {
                    payload.moveReaderIndex(forwardBy: 1)
                    row.append(nil)
                    continue
                }
                guard let length = payload.readLengthEncodedInteger(), length < 65_536, let text = payload.readString(length: Int(length)) else {
                    return .failed("an unreadable row in the topology answer")
                }
                row.append(text)
            }
            rows.append(row)
        }
        return .pending
    }

    private func reading() -> Outcome {
        guard let first = rows.first, let readOnly = first[3], let nowText = first[4], let now = Double(nowText) else {
            return .failed("information_schema.replica_host_status returned no rows")
        }
        var parsed: [Row] = []
        for row in rows {
            guard let serverID = row[0], let sessionID = row[1] else { return .failed("a topology row lacks SERVER_ID or SESSION_ID") }
            parsed.append(Row(serverID: serverID, sessionID: sessionID, lastUpdate: row[2].flatMap(Double.init)))
        }
        return .read(Reading(readOnly: readOnly != "0", serverNow: now, rows: parsed))
    }
}

import NIOCore

/// Reads an Aurora PostgreSQL cluster's topology on a logged-in session: one simple query of
/// two statements — the answering server's own state (`pg_is_in_recovery()`, the server clock),
/// then `aurora_replica_status()`'s instance rows — and the rows of both results, text as sent.
/// Timestamps come as epoch seconds so no DateStyle or TimeZone setting changes them, and the
/// server's clock is the one "updated within 300 s" is judged by. Pure.
public struct AuroraTopologyQuery: Sendable {
    /// What one reading found.
    public struct Reading: Sendable, Equatable {
        /// The answering server is a standby (so not the writer, whatever a row says).
        public var inRecovery: Bool
        /// The server's clock, epoch seconds.
        public var serverNow: Double
        /// `aurora_replica_status()` rows: `server_id`, `session_id`, `last_update_timestamp` (epoch seconds; nil when NULL).
        public var rows: [(serverID: String, sessionID: String, lastUpdate: Double?)]

        public init(inRecovery: Bool, serverNow: Double, rows: [(serverID: String, sessionID: String, lastUpdate: Double?)]) {
            self.inRecovery = inRecovery
            self.serverNow = serverNow
            self.rows = rows
        }

        public static func == (lhs: Reading, rhs: Reading) -> Bool {
            lhs.inRecovery == rhs.inRecovery && lhs.serverNow == rhs.serverNow && lhs.rows.elementsEqual(rhs.rows) { $0 == $1 }
        }
    }

    public enum Outcome: Sendable, Equatable {
        case pending
        case read(Reading)
        case failed(String)
    }

    public static let statement = "SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM now())::float8; "
        + "SELECT server_id::text, session_id::text, EXTRACT(EPOCH FROM last_update_timestamp)::float8 FROM aurora_replica_status()"
    /// Bounds what a misbehaving server can make the proxy read for one reading.
    static let maximumMessages = 10_000

    private var results: [[[String?]]] = []
    private var current: [[String?]]?
    private var error: String?
    private var reader = BoundedMessageReader(maximumMessages: maximumMessages)

    public init() {}

    /// What to send the server.
    public var request: ByteBuffer { FrontendMessages.query(Self.statement) }

    /// Reads the server's answer from `buffer` as far as it goes.
    public mutating func serverBytes(_ buffer: inout ByteBuffer) -> Outcome {
        while true {
            let message: BackendMessage
            switch reader.next(from: &buffer) {
            case nil: return .pending
            case .failure(.malformed(let error)): return .failed("the answer to the topology query is malformed: \(error)")
            case .failure(.tooMany): return .failed("the answer to the topology query exceeds \(Self.maximumMessages) messages")
            case .success(let decoded): message = decoded
            }
            var body = message.body
            switch message.type {
            case UInt8(ascii: "T"):
                current = []
            case UInt8(ascii: "D"):
                guard current != nil, let row = Self.row(&body) else { return .failed("the topology query's answer has an unreadable row") }
                current?.append(row)
            case UInt8(ascii: "C"):
                results.append(current ?? [])
                current = nil
            case BackendMessage.errorResponse:
                error = (try? ErrorResponse(body: message.body))?.description ?? "an unreadable error"
            case BackendMessage.readyForQuery:
                if let error { return .failed("the topology query failed: \(error)") }
                return reading()
            default:
                // Notices, ParameterStatus, notifications: nothing to decide on.
                continue
            }
        }
    }

    private func reading() -> Outcome {
        guard results.count == 2, let own = results[0].first, own.count == 2, let recovery = own[0], let nowText = own[1], let now = Double(nowText) else {
            return .failed("the topology query's answer does not have the expected two results")
        }
        var rows: [(String, String, Double?)] = []
        for row in results[1] {
            guard row.count == 3, let serverID = row[0], let sessionID = row[1] else { return .failed("a topology row lacks server_id or session_id") }
            rows.append((serverID, sessionID, row[2].flatMap(Double.init)))
        }
        return .read(Reading(inRecovery: recovery == "t", serverNow: now, rows: rows))
    }

    /// A DataRow's columns as text (nil for NULL).
    private static func row(_ body: inout ByteBuffer) -> [String?]? {
        guard let count = body.readInteger(as: Int16.self), count >= 0 else { return nil }
        var columns: [String?] = []
        for _ in 0..<count {
            guard let length = body.readInteger(as: Int32.self) else { return nil }
            if length < 0 {
                columns.append(nil)
                continue
            }
            guard let text = body.readString(length: Int(length)) else { return nil }
            columns.append(text)
        }
        return columns
    }
}

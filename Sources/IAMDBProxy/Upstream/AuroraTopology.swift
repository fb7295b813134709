import Foundation

/// An Aurora cluster's instances and which is the writer, from the rows its topology function
/// returns (PostgreSQL `aurora_replica_status()`: `server_id`, `session_id`,
/// `last_update_timestamp`; MySQL `information_schema.replica_host_status` alike), filtered as
/// the AWS wrappers do: rows updated within the last 300 s, the writer's row (its `session_id`
/// is `MASTER_SESSION_ID`), and rows without a timestamp (the instance answering, in Aurora
/// PostgreSQL 13.9+) are kept, a row without a timestamp counting as updated now; when two rows
/// claim the writer during a failover, the most recently updated wins. Pure. Groundwork of the
/// Aurora-aware routing (#17), not wired yet.
struct AuroraTopology: Sendable, Equatable {
    struct Row: Sendable, Equatable {
        var serverID: String
        var sessionID: String
        var lastUpdate: Date?
    }

    static let writerSessionID = "MASTER_SESSION_ID"
    static let staleAfter: TimeInterval = 300

    /// The writer's instance id, if a row says one.
    let writer: String?
    /// The other instances kept (readers), most recently updated first.
    let readers: [String]

    /// From rows as the engines' topology queries read them: timestamps and the server's clock
    /// in epoch seconds.
    init(epochRows: [(serverID: String, sessionID: String, lastUpdate: Double?)], serverNow: Double) {
        self.init(rows: epochRows.map { Row(serverID: $0.serverID, sessionID: $0.sessionID, lastUpdate: $0.lastUpdate.map(Date.init(timeIntervalSince1970:))) },
                  now: Date(timeIntervalSince1970: serverNow))
    }

    init(rows: [Row], now: Date) {
        let kept = rows.filter { row in
            row.sessionID == Self.writerSessionID || row.lastUpdate.map { now.timeIntervalSince($0) <= Self.staleAfter } ?? true
        }
        func updated(_ row: Row) -> Date { row.lastUpdate ?? now }
        let writerRow = kept.filter { $0.sessionID == Self.writerSessionID }.max { updated($0) < updated($1) }
        writer = writerRow?.serverID
        readers = kept.filter { $0.serverID != writerRow?.serverID }.sorted { updated($0) > updated($1) }.map(\.serverID)
    }
}

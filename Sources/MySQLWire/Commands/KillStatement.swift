/// `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>` as clients send it to cancel a query
/// (the mysql/mariadb client's Ctrl-C, Connector/J's `Statement.cancel()`), with the id the
/// connection's greeting carried. Other KILL forms (`QUERY ID`, `USER`) are not matched.
public struct KillStatement: Sendable, Equatable {
    public enum Target: String, Sendable, Equatable {
        case query = "QUERY"
        case connection = "CONNECTION"
    }

    public var target: Target
    public var connectionID: UInt64

    public init(target: Target, connectionID: UInt64) {
        self.target = target
        self.connectionID = connectionID
    }

    /// Parses a whole statement; nil unless it is exactly one KILL of a numeric id.
    public init?(_ sql: String) {
        var words = sql.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .map { $0.uppercased() }
        if var last = words.last, last.hasSuffix(";") {
            last.removeLast()
            if last.isEmpty { words.removeLast() } else { words[words.count - 1] = last }
        }
        guard words.first == "KILL" else { return nil }
        words.removeFirst()
        if let first = words.first, first == "HARD" || first == "SOFT" { words.removeFirst() }
        target = .connection
        if let first = words.first, let target = Target(rawValue: first) {
            self.target = target
            words.removeFirst()
        }
        guard words.count == 1, let id = UInt64(words[0]) else { return nil }
        connectionID = id
    }

    /// The statement for the server, with the server's own id for the session.
    public func sql(connectionID: UInt64) -> String { "KILL \(target.rawValue) \(connectionID)" }
}

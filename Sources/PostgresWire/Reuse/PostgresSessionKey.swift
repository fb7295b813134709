/// What shaped a PostgreSQL login, so that a pre-authenticated session is handed only to a
/// client whose startup would have made the same one: the protocol version and every startup
/// parameter, by name (user, database, `options`, `application_name`, `client_encoding`,
/// `_pq_.*` …). Replication sessions have no key: they are never shared.
public struct PostgresSessionKey: Sendable, Hashable, CustomStringConvertible {
    public let protocolVersion: StartupRequest.ProtocolVersion
    /// Sorted by name; a repeated name keeps its first value, as the server does.
    public let parameters: [String: String]

    public init?(protocolVersion: StartupRequest.ProtocolVersion, parameters: [(String, String)]) {
        var byName: [String: String] = [:]
        for (name, value) in parameters where byName[name] == nil { byName[name] = value }
        if byName["replication"] != nil { return nil }
        // libpq leaves `database` out when it equals the user name; the server does the same.
        if byName["database"] == nil, let user = byName["user"] { byName["database"] = user }
        self.protocolVersion = protocolVersion
        self.parameters = byName
    }

    /// One string per key (names and values cannot hold NUL, so the joins are unambiguous).
    public var canonical: String {
        (["\(protocolVersion)"] + parameters.sorted { $0.key < $1.key }.map { "\($0.key)\u{0}\($0.value)" }).joined(separator: "\u{0}\u{0}")
    }

    public var user: String { parameters["user"] ?? "" }
    public var database: String { parameters["database"] ?? "" }

    /// For log lines: the user, the database and how many other parameters; never their values,
    /// which may be anything a client put in `options`.
    public var description: String { "\(user)@\(database) (protocol \(protocolVersion), \(parameters.count - 2) more parameters)" }
}


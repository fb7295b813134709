import MySQLWire

/// What a MySQL listener keeps beside its `ListenerRuntime`: the greeting its clients get
/// (its own, per listener) and the KILL ids of every MySQL session of the proxy (shared, so
/// a KILL can name a session of another connection).
struct MySQLListenerState: Sendable {
    let greeting = MySQLGreetingCache()
    let sessions: MySQLSessionRegistry
}

extension ListenerConfiguration.Auth {
    /// How this listener's MySQL logins answer the server: an IAM token only ever as
    /// `mysql_clear_password`; a secret's password as whichever plugin the server asks for.
    var mysqlCredential: MySQLUpstreamLogin.Credential {
        switch self {
        case .iam: .iamToken
        case .secret: .password
        }
    }
}

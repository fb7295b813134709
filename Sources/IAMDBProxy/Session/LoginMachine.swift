import MySQLWire
import NIOCore
import PostgresWire

/// What the PostgreSQL and MySQL handshake state machines share: the events from the token
/// cache and the upstream link, and what the session code reads back.
protocol LoginMachine {
    associatedtype Action
    /// What a logged-in session told its first client, to greet a later one (session reuse).
    associatedtype LoggedInSession: Sendable
    /// Which parked sessions this client may be given (nil: none, such as a replication session).
    var reuseKey: (canonical: String, description: String, details: any Sendable)? { get }
    /// Instead of logging in: the client is greeted as `session`'s first client was.
    mutating func handOut(_ session: LoggedInSession) -> [Action]
    var isRelaying: Bool { get }
    var user: String { get }
    var database: String { get }
    /// How the server checked the password, for the logged-in line.
    var authenticationMethod: String? { get }
    mutating func tokenReady(_ token: String, wasCached: Bool) -> [Action]
    mutating func tokenFailed(_ reason: String, refusesUser: Bool) -> [Action]
    mutating func upstreamBytes(_ buffer: inout ByteBuffer) -> [Action]
    mutating func upstreamTLSEstablished(serverCertificate: [UInt8]?) -> [Action]
    mutating func upstreamFailed(_ message: String, hint: String?) -> [Action]
}

extension PostgresProxyHandshake: LoginMachine {
    var reuseKey: (canonical: String, description: String, details: any Sendable)? { sessionKey.map { ($0.canonical, $0.description, $0) } }
}

extension MySQLProxyHandshake: LoginMachine {
    var reuseKey: (canonical: String, description: String, details: any Sendable)? { sessionKey.map { ($0.canonical, $0.description, $0) } }
}

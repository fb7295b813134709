import NIOCore

/// What shaped a MySQL login, so that a pre-authenticated session goes only to a client whose
/// HandshakeResponse would have made the same one: the user, the database, the capability
/// flags, the character set (collation), the max packet size and the connection attributes,
/// byte for byte. A login without a database has no key: `COM_RESET_CONNECTION` keeps the last
/// `USE`, and no command returns a session to "no database".
public struct MySQLSessionKey: Sendable, Hashable, CustomStringConvertible {
    public let user: String
    public let database: String
    public let capabilities: UInt64
    public let characterSet: UInt8
    public let maxPacketSize: UInt32
    public let attributes: [UInt8]

    public init?(_ response: HandshakeResponse) {
        guard let database = response.database, !database.isEmpty else { return nil }
        user = response.user
        self.database = database
        capabilities = response.capabilities.rawValue
        characterSet = response.characterSet
        maxPacketSize = response.maxPacketSize
        attributes = response.attributes.map { Array($0.readableBytesView) } ?? []
    }

    public var canonical: String {
        "\(user)\u{0}\(database)\u{0}\(capabilities)\u{0}\(characterSet)\u{0}\(maxPacketSize)\u{0}" + attributes.map { String($0, radix: 16) }.joined(separator: ",")
    }

    /// For log lines: never the attributes' values.
    public var description: String { "\(user)@\(database) (charset \(characterSet), \(attributes.count) attribute bytes)" }
}

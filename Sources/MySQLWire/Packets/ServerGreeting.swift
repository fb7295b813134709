import NIOCore

/// HandshakeV10, the packet a MySQL or MariaDB server sends first. The proxy reads the
/// upstream's and sends its own to the client, built from what it learned.
public struct ServerGreeting: Sendable, Equatable {
    public static let protocolVersion: UInt8 = 10

    public var serverVersion: String
    public var connectionID: UInt32
    /// The 20-byte scramble (auth-plugin-data), without its trailing NUL.
    public var scramble: [UInt8]
    public var capabilities: CapabilityFlags
    public var characterSet: UInt8
    public var statusFlags: UInt16
    public var authPluginName: String

    public init(serverVersion: String, connectionID: UInt32, scramble: [UInt8], capabilities: CapabilityFlags,
                characterSet: UInt8, statusFlags: UInt16, authPluginName: String) {
        self.serverVersion = serverVersion
        self.connectionID = connectionID
        self.scramble = scramble
        self.capabilities = capabilities
        self.characterSet = characterSet
        self.statusFlags = statusFlags
        self.authPluginName = authPluginName
    }

    public init(payload: ByteBuffer) throws(MySQLProtocolError) {
        var payload = payload
        guard let version = payload.readInteger(as: UInt8.self) else { throw MySQLProtocolError("empty greeting") }
        guard version == Self.protocolVersion else { throw MySQLProtocolError("greeting protocol version \(version), expected 10") }
        guard let serverVersion = payload.readNullTerminatedString(),
            let connectionID = payload.readInteger(endianness: .little, as: UInt32.self),
            let scramble1 = payload.readBytes(length: 8),
            payload.readInteger(as: UInt8.self) != nil,
            let lowerCapabilities = payload.readInteger(endianness: .little, as: UInt16.self)
        else { throw MySQLProtocolError("greeting too short") }
        self.serverVersion = serverVersion
        self.connectionID = connectionID
        guard let characterSet = payload.readInteger(as: UInt8.self),
            let statusFlags = payload.readInteger(endianness: .little, as: UInt16.self),
            let upperCapabilities = payload.readInteger(endianness: .little, as: UInt16.self),
            let scrambleLength = payload.readInteger(as: UInt8.self),
            let reserved = payload.readBytes(length: 10)
        else {
            // Servers before 4.1 end here; the proxy needs PROTOCOL_41 anyway.
            throw MySQLProtocolError("greeting without the 4.1 fields")
        }
        let lower = UInt32(lowerCapabilities) | UInt32(upperCapabilities) << 16
        var capabilities = CapabilityFlags(lower: lower)
        if !capabilities.contains(.clientMySQL) {
            let extended = reserved[6..<10].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
            capabilities = CapabilityFlags(lower: lower, extended: extended)
        }
        self.capabilities = capabilities
        self.characterSet = characterSet
        self.statusFlags = statusFlags
        var scramble = scramble1
        if capabilities.contains(.secureConnection) {
            let length = max(13, Int(scrambleLength) - 8)
            guard let scramble2 = payload.readBytes(length: length) else { throw MySQLProtocolError("greeting scramble truncated") }
            scramble += scramble2.last == 0 ? scramble2.dropLast() : scramble2[...]
        }
        self.scramble = scramble
        if capabilities.contains(.pluginAuth) {
            // Some servers omit the final NUL.
            authPluginName = payload.readNullTerminatedString() ?? payload.readString(length: payload.readableBytes) ?? ""
        } else {
            authPluginName = "mysql_native_password"
        }
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.protocolVersion)
        buffer.writeNullTerminatedString(serverVersion)
        buffer.writeInteger(connectionID, endianness: .little)
        buffer.writeBytes(scramble.prefix(8))
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt16(truncatingIfNeeded: capabilities.lower), endianness: .little)
        buffer.writeInteger(characterSet)
        buffer.writeInteger(statusFlags, endianness: .little)
        buffer.writeInteger(UInt16(truncatingIfNeeded: capabilities.lower >> 16), endianness: .little)
        buffer.writeInteger(capabilities.contains(.pluginAuth) ? UInt8(scramble.count + 1) : 0)
        buffer.writeRepeatingByte(0, count: 6)
        buffer.writeInteger(capabilities.contains(.clientMySQL) ? 0 : capabilities.extended, endianness: .little)
        if capabilities.contains(.secureConnection) {
            var rest = Array(scramble.dropFirst(8))
            rest += [UInt8](repeating: 0, count: max(0, 12 - rest.count))
            buffer.writeBytes(rest)
            buffer.writeInteger(UInt8(0))
        }
        if capabilities.contains(.pluginAuth) { buffer.writeNullTerminatedString(authPluginName) }
        return buffer
    }
}

extension ServerGreeting {
    /// Used until the proxy has seen the real server: flags every MySQL 5.7+/8.x and MariaDB
    /// 10.2+ server has, and none that change the wire format when only one side has them
    /// (no DEPRECATE_EOF, no MariaDB extensions), so a client greeted with it is always safe.
    public static let conservativeDefault = ServerGreeting(
        serverVersion: "8.0.0-iam-db-proxy", connectionID: 0, scramble: [UInt8](repeating: 0x41, count: 20),
        capabilities: [
            .clientMySQL, .foundRows, .longFlag, .connectWithDB, .noSchema, .odbc, .localFiles, .ignoreSpace, .protocol41,
            .interactive, .ssl, .ignoreSigpipe, .transactions, .secureConnection, .multiStatements, .multiResults,
            .psMultiResults, .pluginAuth, .connectAttributes, .pluginAuthLengthEncodedData, .canHandleExpiredPasswords,
        ],
        characterSet: 45, statusFlags: 0x0002, authPluginName: "mysql_native_password")
}

import NIOCore

/// HandshakeResponse41, the client's answer to the greeting. Its first 32 bytes alone, with
/// CLIENT_SSL set, are an SSLRequest: the client asks for TLS before sending the rest.
public struct HandshakeResponse: Sendable, Equatable {
    public static let sslRequestLength = 32

    public var capabilities: CapabilityFlags
    public var maxPacketSize: UInt32
    public var characterSet: UInt8
    public var user: String
    public var authResponse: [UInt8]
    public var database: String?
    public var authPluginName: String?
    /// The connection attributes exactly as sent (their own length prefix excluded).
    public var attributes: ByteBuffer?

    public init(capabilities: CapabilityFlags, maxPacketSize: UInt32 = 16 * 1024 * 1024, characterSet: UInt8, user: String,
                authResponse: [UInt8] = [], database: String? = nil, authPluginName: String? = nil, attributes: ByteBuffer? = nil) {
        self.capabilities = capabilities
        self.maxPacketSize = maxPacketSize
        self.characterSet = characterSet
        self.user = user
        self.authResponse = authResponse
        self.database = database
        self.authPluginName = authPluginName
        self.attributes = attributes
    }

    /// The fixed part shared with SSLRequest.
    public struct Prefix: Sendable, Equatable {
        public var capabilities: CapabilityFlags
        public var maxPacketSize: UInt32
        public var characterSet: UInt8
    }

    public static func readPrefix(_ payload: inout ByteBuffer) throws(MySQLProtocolError) -> Prefix {
        guard let lower = payload.readInteger(endianness: .little, as: UInt32.self),
            let maxPacketSize = payload.readInteger(endianness: .little, as: UInt32.self),
            let characterSet = payload.readInteger(as: UInt8.self),
            payload.readBytes(length: 19) != nil,
            let extended = payload.readInteger(endianness: .little, as: UInt32.self)
        else { throw MySQLProtocolError("handshake response shorter than 32 bytes") }
        let flags = CapabilityFlags(lower: lower)
        guard flags.contains(.protocol41) else {
            throw MySQLProtocolError("the client does not speak protocol 4.1 (CLIENT_PROTOCOL_41 is clear)")
        }
        return Prefix(capabilities: CapabilityFlags(lower: lower, extended: flags.contains(.clientMySQL) ? 0 : extended),
                      maxPacketSize: maxPacketSize, characterSet: characterSet)
    }

    /// True for a 32-byte SSLRequest.
    public static func isSSLRequest(_ payload: ByteBuffer) -> Bool {
        guard payload.readableBytes == sslRequestLength,
            let lower = payload.getInteger(at: payload.readerIndex, endianness: .little, as: UInt32.self)
        else { return false }
        return CapabilityFlags(lower: lower).contains(.ssl)
    }

    public init(payload: ByteBuffer) throws(MySQLProtocolError) {
        var payload = payload
        let prefix = try Self.readPrefix(&payload)
        capabilities = prefix.capabilities
        maxPacketSize = prefix.maxPacketSize
        characterSet = prefix.characterSet
        guard let user = payload.readNullTerminatedString() else { throw MySQLProtocolError("user name not terminated") }
        self.user = user
        if capabilities.contains(.pluginAuthLengthEncodedData) {
            guard let length = payload.readLengthEncodedInteger(), length <= UInt64(payload.readableBytes),
                let bytes = payload.readBytes(length: Int(length))
            else { throw MySQLProtocolError("auth response longer than the packet") }
            authResponse = bytes
        } else if capabilities.contains(.secureConnection) {
            guard let length = payload.readInteger(as: UInt8.self), let bytes = payload.readBytes(length: Int(length)) else {
                throw MySQLProtocolError("auth response longer than the packet")
            }
            authResponse = bytes
        } else {
            guard let bytes = payload.readNullTerminatedBytes() else { throw MySQLProtocolError("auth response not terminated") }
            authResponse = Array(buffer: bytes)
        }
        if capabilities.contains(.connectWithDB), payload.readableBytes > 0 {
            guard let database = payload.readNullTerminatedString() else { throw MySQLProtocolError("database name not terminated") }
            self.database = database.isEmpty ? nil : database
        }
        if capabilities.contains(.pluginAuth), payload.readableBytes > 0 {
            // libmysqlclient may leave off the NUL of the last field.
            authPluginName = payload.readNullTerminatedString() ?? payload.readString(length: payload.readableBytes)
        }
        if capabilities.contains(.connectAttributes), payload.readableBytes > 0 {
            guard let length = payload.readLengthEncodedInteger(), length <= UInt64(payload.readableBytes) else {
                throw MySQLProtocolError("connection attributes longer than the packet")
            }
            attributes = payload.readSlice(length: Int(length))
        }
    }

    public func encodePrefix(into buffer: inout ByteBuffer) {
        buffer.writeInteger(capabilities.lower, endianness: .little)
        buffer.writeInteger(maxPacketSize, endianness: .little)
        buffer.writeInteger(characterSet)
        buffer.writeRepeatingByte(0, count: 19)
        buffer.writeInteger(capabilities.contains(.clientMySQL) ? 0 : capabilities.extended, endianness: .little)
    }

    /// The 32-byte SSLRequest with these capabilities.
    public func encodeSSLRequest() -> ByteBuffer {
        var buffer = ByteBuffer()
        encodePrefix(into: &buffer)
        return buffer
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        encodePrefix(into: &buffer)
        buffer.writeNullTerminatedString(user)
        if capabilities.contains(.pluginAuthLengthEncodedData) {
            buffer.writeLengthEncodedInteger(UInt64(authResponse.count))
        } else {
            precondition(authResponse.count < 256, "auth responses of 256 bytes or more need CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA")
            buffer.writeInteger(UInt8(authResponse.count))
        }
        buffer.writeBytes(authResponse)
        if capabilities.contains(.connectWithDB) { buffer.writeNullTerminatedString(database ?? "") }
        if capabilities.contains(.pluginAuth) { buffer.writeNullTerminatedString(authPluginName ?? "") }
        if capabilities.contains(.connectAttributes) {
            let attributes = attributes ?? ByteBuffer()
            buffer.writeLengthEncodedInteger(UInt64(attributes.readableBytes))
            buffer.writeImmutableBuffer(attributes)
        }
        return buffer
    }
}

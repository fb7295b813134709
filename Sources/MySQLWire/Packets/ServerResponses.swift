import NIOCore

/// An ERR packet: `0xFF`, error code, `#` and a five-character SQLSTATE, message.
public struct ErrorPacket: Sendable, Equatable, Error, CustomStringConvertible {
    public var code: UInt16
    public var sqlState: String
    public var message: String

    public init(code: UInt16, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    // The errors the proxy itself sends.
    public static func accessDenied(_ message: String) -> Self { .init(code: 1045, sqlState: "28000", message: message) }
    public static func tooManyConnections(_ message: String) -> Self { .init(code: 1040, sqlState: "08004", message: message) }
    /// ER_CONNECT_TO_FOREIGN_DATA_SOURCE: the server-side code for "cannot reach the database
    /// behind me". Not 2003 (CR_CONN_HOST_ERROR): libmariadb treats a client-range code
    /// (2000–2999) arriving from a server as a malformed packet.
    public static func cannotConnect(_ message: String) -> Self { .init(code: 1429, sqlState: "HY000", message: message) }
    public static func badHandshake(_ message: String) -> Self { .init(code: 1043, sqlState: "08S01", message: message) }
    public static func notSupported(_ message: String) -> Self { .init(code: 1235, sqlState: "42000", message: message) }
    public static func unknownThread(_ id: UInt64) -> Self { .init(code: 1094, sqlState: "HY000", message: "Unknown thread id: \(id)") }

    /// Reads an ERR payload. Before the client has sent its response (for example a server
    /// refusing a blocked host) there is no SQLSTATE; `HY000` stands in.
    public init(payload: ByteBuffer) throws(MySQLProtocolError) {
        var payload = payload
        guard payload.readInteger(as: UInt8.self) == 0xFF, let code = payload.readInteger(endianness: .little, as: UInt16.self) else {
            throw MySQLProtocolError("not an ERR packet")
        }
        self.code = code
        if payload.getInteger(at: payload.readerIndex, as: UInt8.self) == UInt8(ascii: "#"), payload.readableBytes >= 6 {
            payload.moveReaderIndex(forwardBy: 1)
            sqlState = payload.readString(length: 5)!
        } else {
            sqlState = "HY000"
        }
        message = payload.readString(length: payload.readableBytes) ?? ""
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0xFF))
        buffer.writeInteger(code, endianness: .little)
        buffer.writeInteger(UInt8(ascii: "#"))
        buffer.writeString(String(sqlState.utf8.prefix(5))!)
        buffer.writeString(message)
        return buffer
    }

    /// The ERR packet framed with `sequenceID`.
    public func frame(sequenceID: UInt8) -> ByteBuffer {
        var buffer = ByteBuffer()
        PacketFrame(sequenceID: sequenceID, payload: encode()).encode(into: &buffer)
        return buffer
    }

    public var description: String { "ERROR \(code) (\(sqlState)): \(message)" }
}

/// What a server may send while a client authenticates.
public enum AuthenticationReply: Sendable, Equatable {
    case ok(ByteBuffer)
    case error(ErrorPacket)
    /// `0xFE` plugin name and plugin data; both may be absent (old servers, Aurora).
    case authSwitch(plugin: String?, data: [UInt8])
    /// `0x01` and plugin-specific data (caching_sha2_password's fast-auth result, PAM prompts).
    case moreData([UInt8])

    public init(payload: ByteBuffer) throws(MySQLProtocolError) {
        var body = payload
        switch body.readInteger(as: UInt8.self) {
        case 0x00: self = .ok(payload)
        case 0xFF: self = .error(try ErrorPacket(payload: payload))
        case 0xFE:
            let plugin = body.readableBytes == 0 ? nil : (body.readNullTerminatedString() ?? body.readString(length: body.readableBytes))
            self = .authSwitch(plugin: plugin, data: body.readBytes(length: body.readableBytes) ?? [])
        case 0x01: self = .moreData(body.readBytes(length: body.readableBytes) ?? [])
        case let other?: throw MySQLProtocolError("unexpected packet 0x\(String(other, radix: 16)) during authentication")
        case nil: throw MySQLProtocolError("empty packet during authentication")
        }
    }
}

import NIOCore

/// One message from a PostgreSQL server: a type byte, an Int32 length (itself included) and
/// the body. The proxy reads only the startup phase this way; afterwards bytes are relayed.
public struct BackendMessage: Sendable, Equatable {
    public var type: UInt8
    public var body: ByteBuffer

    public static let authentication = UInt8(ascii: "R")
    public static let errorResponse = UInt8(ascii: "E")
    public static let noticeResponse = UInt8(ascii: "N")
    public static let negotiateProtocolVersion = UInt8(ascii: "v")
    public static let parameterStatus = UInt8(ascii: "S")
    public static let backendKeyData = UInt8(ascii: "K")
    public static let readyForQuery = UInt8(ascii: "Z")

    /// Startup-phase messages are small; anything larger is a protocol violation, and bounding
    /// it bounds what a hostile upstream can make the proxy buffer.
    public static let maximumLength = 1 << 20

    public init(type: UInt8, body: ByteBuffer) {
        self.type = type
        self.body = body
    }

    /// Returns nil (reader index untouched) until the whole message is buffered.
    public static func decode(from buffer: inout ByteBuffer) throws(PostgresProtocolError) -> BackendMessage? {
        guard let (type, length) = buffer.getMultipleIntegers(at: buffer.readerIndex, as: (UInt8, Int32).self) else { return nil }
        guard length >= 4, length <= maximumLength else {
            throw .malformed("server message '\(Character(UnicodeScalar(type)))' has length \(length)")
        }
        guard buffer.readableBytes >= 1 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        return BackendMessage(type: type, body: buffer.readSlice(length: Int(length) - 4)!)
    }

    /// The message as it was on the wire (for forwarding to the client unchanged).
    public var wireBytes: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(5 + body.readableBytes)
        buffer.writeInteger(type)
        buffer.writeInteger(Int32(4 + body.readableBytes))
        buffer.writeImmutableBuffer(body)
        return buffer
    }
}

public enum PostgresProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let reason): reason
        }
    }
}

/// What an `R` message asks for.
public enum AuthenticationRequest: Sendable, Equatable {
    case ok
    case cleartextPassword
    case md5Password(salt: [UInt8])
    case sasl(mechanisms: [String])
    case saslContinue(data: [UInt8])
    case saslFinal(data: [UInt8])
    /// Kerberos, GSSAPI, SSPI: nothing the proxy can answer with a token.
    case unsupported(code: Int32)

    public init(body: ByteBuffer) throws(PostgresProtocolError) {
        var body = body
        guard let code = body.readInteger(as: Int32.self) else { throw .malformed("empty authentication request") }
        switch code {
        case 0: self = .ok
        case 3: self = .cleartextPassword
        case 5:
            guard let salt = body.readBytes(length: 4) else { throw .malformed("MD5 request without salt") }
            self = .md5Password(salt: salt)
        case 10:
            var mechanisms: [String] = []
            while let name = body.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
            self = .sasl(mechanisms: mechanisms)
        case 11: self = .saslContinue(data: body.readBytes(length: body.readableBytes) ?? [])
        case 12: self = .saslFinal(data: body.readBytes(length: body.readableBytes) ?? [])
        default: self = .unsupported(code: code)
        }
    }
}

/// BackendKeyData: what a CancelRequest must quote. The secret is 4 bytes before protocol
/// 3.2 and up to 256 bytes from 3.2 on.
public struct BackendKey: Sendable, Hashable {
    public var processID: Int32
    public var secretKey: [UInt8]

    public init(processID: Int32, secretKey: [UInt8]) {
        self.processID = processID
        self.secretKey = secretKey
    }

    /// The same process id (clients compare it with a notification's sender) and a fresh secret
    /// of the same length.
    public func withRandomSecret() -> BackendKey {
        var random = SystemRandomNumberGenerator()
        return BackendKey(processID: processID, secretKey: secretKey.map { _ in UInt8.random(in: 0...255, using: &random) })
    }

    /// As the server sends it: `K`, length, process id, secret.
    public var message: ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(processID)
        body.writeBytes(secretKey)
        return BackendMessage(type: BackendMessage.backendKeyData, body: body).wireBytes
    }

    public init(body: ByteBuffer) throws(PostgresProtocolError) {
        var body = body
        guard let processID = body.readInteger(as: Int32.self), body.readableBytes >= 4, body.readableBytes <= 256 else {
            throw .malformed("bad BackendKeyData")
        }
        self.init(processID: processID, secretKey: body.readBytes(length: body.readableBytes)!)
    }
}

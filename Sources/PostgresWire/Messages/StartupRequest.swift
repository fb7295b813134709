import NIOCore

/// The first message a PostgreSQL client sends: it has no type byte, only an Int32 length
/// (including itself) and an Int32 code.
public enum StartupRequest: Sendable, Equatable {
    /// 80877103: the client asks for TLS; the answer is one byte, `S` or `N`.
    case sslRequest
    /// 80877104: the client asks for GSSAPI encryption.
    case gssEncryptionRequest
    /// 80877102: cancel the query running on the backend with this process id. The secret key
    /// is 4 bytes before protocol 3.2 and up to 256 bytes from 3.2 on.
    case cancel(processID: Int32, secretKey: [UInt8])
    /// 196608 (3.0) or 196610 (3.2): user, database and other parameters, in the client's order.
    case startup(protocolVersion: ProtocolVersion, parameters: [(String, String)])

    public struct ProtocolVersion: Sendable, Hashable, CustomStringConvertible {
        public var major: UInt16
        public var minor: UInt16
        public init(major: UInt16, minor: UInt16) {
            self.major = major
            self.minor = minor
        }
        public var description: String { "\(major).\(minor)" }
    }

    static let sslRequestCode: Int32 = 80_877_103
    static let gssEncryptionRequestCode: Int32 = 80_877_104
    static let cancelRequestCode: Int32 = 80_877_102
    /// PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH).
    public static let maximumLength = 10_000

    public static func == (lhs: StartupRequest, rhs: StartupRequest) -> Bool {
        switch (lhs, rhs) {
        case (.sslRequest, .sslRequest), (.gssEncryptionRequest, .gssEncryptionRequest): true
        case (.cancel(let a, let b), .cancel(let c, let d)): a == c && b == d
        case (.startup(let v1, let p1), .startup(let v2, let p2)):
            v1 == v2 && p1.map(\.0) == p2.map(\.0) && p1.map(\.1) == p2.map(\.1)
        default: false
        }
    }

    /// The value of a startup parameter (`user`, `database`, ...).
    public func parameter(_ name: String) -> String? {
        guard case .startup(_, let parameters) = self else { return nil }
        return Self.parameter(name, in: parameters)
    }

    /// The first value of `name` in decoded startup parameters.
    public static func parameter(_ name: String, in parameters: [(String, String)]) -> String? {
        parameters.first { $0.0 == name }?.1
    }
}

public enum StartupDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidLength(Int32)
    case unsupportedProtocolVersion(major: UInt16, minor: UInt16)
    case malformed(String)

    public var description: String {
        switch self {
        case .invalidLength(let length): "invalid startup packet length \(length)"
        case .unsupportedProtocolVersion(let major, let minor): "unsupported frontend protocol \(major).\(minor): server supports 3.0 to 3.2"
        case .malformed(let reason): "malformed startup packet: \(reason)"
        }
    }
}

extension StartupRequest {
    /// Decodes one startup-phase message from `buffer`. Returns nil (reader index untouched)
    /// when the message is not complete yet.
    public static func decode(from buffer: inout ByteBuffer) throws(StartupDecodingError) -> StartupRequest? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 8, length <= maximumLength else { throw .invalidLength(length) }
        guard var message = buffer.getSlice(at: buffer.readerIndex, length: Int(length)) else { return nil }
        message.moveReaderIndex(forwardBy: 4)
        let code = message.readInteger(as: Int32.self)!
        let request: StartupRequest
        switch code {
        case sslRequestCode:
            guard length == 8 else { throw .malformed("SSLRequest must be 8 bytes") }
            request = .sslRequest
        case gssEncryptionRequestCode:
            guard length == 8 else { throw .malformed("GSSENCRequest must be 8 bytes") }
            request = .gssEncryptionRequest
        case cancelRequestCode:
            guard length >= 16, length <= 16 + 252, let processID = message.readInteger(as: Int32.self) else {
                throw .malformed("CancelRequest has a bad length")
            }
            request = .cancel(processID: processID, secretKey: message.readBytes(length: message.readableBytes) ?? [])
        default:
            let major = UInt16(truncatingIfNeeded: code >> 16), minor = UInt16(truncatingIfNeeded: code)
            guard major == 3, minor <= 2 else { throw .unsupportedProtocolVersion(major: major, minor: minor) }
            request = .startup(protocolVersion: .init(major: major, minor: minor), parameters: try readParameters(&message))
        }
        buffer.moveReaderIndex(forwardBy: Int(length))
        return request
    }

    private static func readParameters(_ message: inout ByteBuffer) throws(StartupDecodingError) -> [(String, String)] {
        var parameters: [(String, String)] = []
        while true {
            guard let (name, _) = message.readParameterText() else { throw .malformed("parameter list is not terminated") }
            if name.isEmpty { break }
            guard let (value, valid) = message.readParameterText() else { throw .malformed("parameter \(name) has no value") }
            // Other values go to the server byte for byte (a LATIN1 database name works); the
            // user name is signed into the IAM token, which AWS defines over UTF-8.
            guard valid || name != "user" else { throw .malformed("the user name is not valid UTF-8") }
            // PostgreSQL keeps the last of repeated names; a proxy that checked the first would
            // let a client log in as someone its allow-list never saw.
            guard !parameters.contains(where: { $0.0 == name }) else { throw .malformed("parameter \(name) appears more than once") }
            parameters.append((name, value))
        }
        guard message.readableBytes == 0 else { throw .malformed("bytes after the parameter list") }
        guard parameters.contains(where: { $0.0 == "user" }) else { throw .malformed("no user parameter") }
        return parameters
    }
}

extension ByteBuffer {
    /// A NUL-terminated string (invalid UTF-8 replaced, for logs and checks) and whether it
    /// was valid UTF-8; nil when there is no terminator.
    fileprivate mutating func readParameterText() -> (String, Bool)? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let bytes = readBytes(length: end - readerIndex)!
        moveReaderIndex(forwardBy: 1)
        if let valid = String(validating: bytes, as: UTF8.self) { return (valid, true) }
        return (String(decoding: bytes, as: UTF8.self), false)
    }
}

import NIOCore

/// An ErrorResponse (`E`) or NoticeResponse (`N`): typed fields, each a code byte and a
/// NUL-terminated string. The proxy builds FATAL ones for the client and reads the server's.
public struct ErrorResponse: Sendable, Equatable, CustomStringConvertible {
    public var fields: [UInt8: String]

    public static let severityField = UInt8(ascii: "S")
    public static let nonLocalizedSeverityField = UInt8(ascii: "V")
    public static let codeField = UInt8(ascii: "C")
    public static let messageField = UInt8(ascii: "M")
    public static let detailField = UInt8(ascii: "D")
    public static let hintField = UInt8(ascii: "H")

    public init(fields: [UInt8: String]) { self.fields = fields }

    /// A FATAL error with a SQLSTATE, as a server sends before closing a connection.
    public init(fatal sqlState: SQLState, _ message: String, detail: String? = nil, hint: String? = nil) {
        fields = [Self.severityField: "FATAL", Self.nonLocalizedSeverityField: "FATAL", Self.codeField: sqlState.rawValue, Self.messageField: message]
        if let detail { fields[Self.detailField] = detail }
        if let hint { fields[Self.hintField] = hint }
    }

    public init(body: ByteBuffer) throws(PostgresProtocolError) {
        var body = body
        var fields: [UInt8: String] = [:]
        while let code = body.readInteger(as: UInt8.self), code != 0 {
            guard let value = body.readNullTerminatedString() else { throw .malformed("unterminated error field") }
            fields[code] = value
        }
        self.fields = fields
    }

    public var sqlState: String? { fields[Self.codeField] }
    public var message: String { fields[Self.messageField] ?? "" }
    public var severity: String { fields[Self.nonLocalizedSeverityField] ?? fields[Self.severityField] ?? "ERROR" }

    public var description: String { "\(severity) \(sqlState ?? "-----"): \(message)" }

    /// The complete `E` message.
    public func encoded() -> ByteBuffer {
        var body = ByteBuffer()
        // Severity, code and message first, as servers send them; the rest in a stable order.
        let order = [Self.severityField, Self.nonLocalizedSeverityField, Self.codeField, Self.messageField]
        for code in order + fields.keys.filter({ !order.contains($0) }).sorted() {
            guard let value = fields[code] else { continue }
            body.writeInteger(code)
            body.writeNullTerminatedString(value)
        }
        body.writeInteger(UInt8(0))
        return BackendMessage(type: BackendMessage.errorResponse, body: body).wireBytes
    }
}

/// The SQLSTATEs the proxy itself reports.
public enum SQLState: String, Sendable {
    /// sqlclient_unable_to_establish_sqlconnection: upstream unreachable, TLS, credentials.
    case cannotConnect = "08001"
    case protocolViolation = "08P01"
    case invalidAuthorization = "28000"
    case invalidPassword = "28P01"
    case tooManyConnections = "53300"
    case adminShutdown = "57P01"
    case featureNotSupported = "0A000"
}

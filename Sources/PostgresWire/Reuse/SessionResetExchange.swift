import NIOCore

/// Resets a PostgreSQL session whose client has ended cleanly, before it may serve another: sends
/// `DISCARD ALL` (which undoes SET, SET ROLE, prepared statements, cursors, temp tables, LISTEN,
/// advisory locks) and accepts only the exact answer — CommandComplete `DISCARD ALL`, then
/// ReadyForQuery `I`. Notifications still in flight from the last client are swallowed, the
/// ParameterStatus values the reset reports are kept for the next client's greeting. Anything
/// else fails the reset, and the session is closed, never reused. Pure.
public struct SessionResetExchange: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Waiting for more of the server's answer.
        case pending
        /// Reset; `parameters` are the ParameterStatus values it reported (name → value).
        case reset(parameters: [String: String])
        case failed(String)
    }

    public static let statement = "DISCARD ALL"
    /// Bounds what a misbehaving server can make the proxy read for one reset.
    static let maximumMessages = 1_000

    private var completed = false
    private var parameters: [String: String] = [:]
    private var reader = BoundedMessageReader(maximumMessages: maximumMessages)

    public init() {}

    /// What to send the server.
    public var request: ByteBuffer { FrontendMessages.query(Self.statement) }

    /// Reads the server's answer from `buffer` as far as it goes.
    public mutating func serverBytes(_ buffer: inout ByteBuffer) -> Outcome {
        while true {
            let message: BackendMessage
            switch reader.next(from: &buffer) {
            case nil: return .pending
            case .failure(.malformed(let error)): return .failed("the server's answer to \(Self.statement) is malformed: \(error)")
            case .failure(.tooMany): return .failed("the server kept talking after \(Self.statement)")
            case .success(let decoded): message = decoded
            }
            var body = message.body
            switch message.type {
            case UInt8(ascii: "C"):
                guard body.readNullTerminatedString() == Self.statement, !completed else {
                    return .failed("the server did not complete \(Self.statement)")
                }
                completed = true
            case BackendMessage.parameterStatus:
                guard let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() else {
                    return .failed("a malformed ParameterStatus during the reset")
                }
                parameters[name] = value
            case UInt8(ascii: "A"), BackendMessage.noticeResponse:
                // A notification for the last client (before UNLISTEN took effect), or a notice: not the next client's.
                continue
            case BackendMessage.readyForQuery:
                guard completed, body.readInteger(as: UInt8.self) == UInt8(ascii: "I") else {
                    return .failed("the session was not idle after \(Self.statement)")
                }
                guard body.readableBytes == 0, buffer.readableBytes == 0 else {
                    return .failed("the server sent more than the answer to \(Self.statement)")
                }
                return .reset(parameters: parameters)
            case BackendMessage.errorResponse:
                let error = try? ErrorResponse(body: message.body)
                return .failed("\(Self.statement) failed: \(error?.description ?? "an unreadable error")")
            default:
                return .failed("unexpected message '\(Character(UnicodeScalar(message.type)))' during the reset")
            }
        }
    }
}

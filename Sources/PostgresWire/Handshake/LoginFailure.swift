import NIOCore

/// Why a login ended before relaying, as the session needs it: the ErrorResponse for the
/// client (nil: close without a word), its SQLSTATE (for the metrics, without decoding the
/// bytes again) and a reason for the log.
public struct LoginFailure: Sendable, Equatable {
    public var error: ByteBuffer?
    public var sqlState: String?
    public var reason: String

    public init(error: ByteBuffer?, sqlState: String?, reason: String) {
        self.error = error
        self.sqlState = sqlState
        self.reason = reason
    }
}

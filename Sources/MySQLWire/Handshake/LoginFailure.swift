import NIOCore

/// Why a login ended before relaying, as the session needs it: the ERR packet for the client
/// (framed; nil: close without a word), its SQLSTATE (for the metrics, without decoding the
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

    /// An ERR packet on the client's sequence id `sequenceID`.
    public init(_ packet: ErrorPacket, sequenceID: UInt8, reason: String) {
        self.init(error: packet.frame(sequenceID: sequenceID), sqlState: packet.sqlState, reason: reason)
    }
}

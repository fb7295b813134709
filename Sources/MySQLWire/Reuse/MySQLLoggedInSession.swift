import NIOCore

/// What a logged-in MySQL session told its first client, kept so it can greet a later one: the
/// server's OK to the login (its status flags) and the server's connection id (for KILL).
public struct MySQLLoggedInSession: Sendable, Equatable {
    public var ok: ByteBuffer
    public var upstreamConnectionID: UInt32

    public init(ok: ByteBuffer, upstreamConnectionID: UInt32) {
        self.ok = ok
        self.upstreamConnectionID = upstreamConnectionID
    }
}

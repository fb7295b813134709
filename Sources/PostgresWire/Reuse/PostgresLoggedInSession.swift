import NIOCore

/// What a logged-in PostgreSQL session told its first client, kept so the session can greet a
/// later client as if that client had logged in itself: the protocol negotiation (if any), the
/// server's *current* ParameterStatus values in the order they were first reported, and the
/// backend's real key (never sent; each client gets a random one). Pure.
public struct PostgresLoggedInSession: Sendable, Equatable {
    /// NegotiateProtocolVersion as the server sent it, when it lowered the client's version.
    public var negotiation: ByteBuffer?
    public private(set) var parameters: [(name: String, value: String)] = []
    public var serverKey: BackendKey

    public init(negotiation: ByteBuffer? = nil, parameters: [(String, String)] = [], serverKey: BackendKey) {
        self.negotiation = negotiation
        self.serverKey = serverKey
        for (name, value) in parameters { report(name, value) }
    }

    /// A ParameterStatus the server sent: a new value replaces the old in place.
    public mutating func report(_ name: String, _ value: String) {
        if let index = parameters.firstIndex(where: { $0.name == name }) {
            parameters[index].value = value
        } else {
            parameters.append((name, value))
        }
    }

    /// Reads a ParameterStatus body (`name\0value\0`); false when malformed.
    public mutating func report(parameterStatus body: ByteBuffer) -> Bool {
        var body = body
        guard let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() else { return false }
        report(name, value)
        return true
    }

    /// What the next client reads after its startup message: NegotiateProtocolVersion (if the
    /// first login had one), AuthenticationOk, every current ParameterStatus, `clientKey` as
    /// BackendKeyData and ReadyForQuery idle — a successful login, byte for byte as a server sends it.
    public func greeting(clientKey: BackendKey) -> ByteBuffer {
        var buffer = ByteBuffer()
        if let negotiation { buffer.writeImmutableBuffer(negotiation) }
        var ok = ByteBuffer()
        ok.writeInteger(Int32(0))
        buffer.writeImmutableBuffer(BackendMessage(type: BackendMessage.authentication, body: ok).wireBytes)
        for (name, value) in parameters {
            var body = ByteBuffer()
            body.writeNullTerminatedString(name)
            body.writeNullTerminatedString(value)
            buffer.writeImmutableBuffer(BackendMessage(type: BackendMessage.parameterStatus, body: body).wireBytes)
        }
        buffer.writeImmutableBuffer(clientKey.message)
        buffer.writeImmutableBuffer(BackendMessage(type: BackendMessage.readyForQuery, body: ByteBuffer(bytes: [UInt8(ascii: "I")])).wireBytes)
        return buffer
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.negotiation == rhs.negotiation && lhs.serverKey == rhs.serverKey
            && lhs.parameters.elementsEqual(rhs.parameters) { $0.name == $1.name && $0.value == $1.value }
    }
}

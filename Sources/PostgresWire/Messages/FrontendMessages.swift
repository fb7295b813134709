import NIOCore

/// The messages the proxy sends to a PostgreSQL server during the startup phase.
public enum FrontendMessages {
    public static func sslRequest() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(Int32(8), StartupRequest.sslRequestCode)
        return buffer
    }

    public static func cancelRequest(_ key: BackendKey) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(Int32(12 + key.secretKey.count), StartupRequest.cancelRequestCode, key.processID)
        buffer.writeBytes(key.secretKey)
        return buffer
    }

    public static func startup(version: StartupRequest.ProtocolVersion, parameters: [(String, String)]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeMultipleIntegers(version.major, version.minor)
        for (name, value) in parameters {
            body.writeNullTerminatedString(name)
            body.writeNullTerminatedString(value)
        }
        body.writeInteger(UInt8(0))
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(4 + body.readableBytes))
        buffer.writeBuffer(&body)
        return buffer
    }

    /// A startup message with the client's parameter section exactly as it sent it.
    public static func startup(version: StartupRequest.ProtocolVersion, rawParameters: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(Int32(8 + rawParameters.readableBytes), version.major, version.minor)
        buffer.writeImmutableBuffer(rawParameters)
        return buffer
    }

    /// A simple Query (`Q`), for the proxy's own statements (a session reset).
    public static func query(_ sql: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "Q"))
        buffer.writeInteger(Int32(4 + sql.utf8.count + 1))
        buffer.writeNullTerminatedString(sql)
        return buffer
    }

    /// PasswordMessage, SASLInitialResponse and SASLResponse all use type `p`.
    public static func password(_ password: String) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeNullTerminatedString(password)
        return typed(UInt8(ascii: "p"), body)
    }

    public static func saslInitialResponse(mechanism: String, data: [UInt8]) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeNullTerminatedString(mechanism)
        body.writeInteger(Int32(data.count))
        body.writeBytes(data)
        return typed(UInt8(ascii: "p"), body)
    }

    public static func saslResponse(data: [UInt8]) -> ByteBuffer {
        typed(UInt8(ascii: "p"), ByteBuffer(bytes: data))
    }

    private static func typed(_ type: UInt8, _ body: ByteBuffer) -> ByteBuffer {
        BackendMessage(type: type, body: body).wireBytes
    }
}

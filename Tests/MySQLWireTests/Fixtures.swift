import NIOCore

@testable import MySQLWire

/// Bytes captured from the local MariaDB 10.11 and helpers to build packets by hand.
enum Fixtures {
    /// The whole greeting packet (header included) MariaDB 10.11 sent to a TCP client.
    static let mariaDBGreetingPacket = hex(
        "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531001f0000005636463d426f2d2e00feff08"
            + "0200ff81150000000000001d0000004037333965712a79452a414b006d7973716c5f6e61746976655f70617373776f726400")

    static var mariaDBGreeting: ServerGreeting {
        var buffer = ByteBuffer(bytes: mariaDBGreetingPacket)
        return try! ServerGreeting(payload: PacketFrame.decode(from: &buffer)!.payload)
    }

    static func hex(_ string: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = string.startIndex
        while index < string.endIndex {
            let next = string.index(index, offsetBy: 2)
            bytes.append(UInt8(string[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func packet(_ payload: [UInt8], sequenceID: UInt8) -> ByteBuffer {
        var buffer = ByteBuffer()
        PacketFrame(sequenceID: sequenceID, payload: ByteBuffer(bytes: payload)).encode(into: &buffer)
        return buffer
    }

    static func frame(_ buffer: ByteBuffer) -> PacketFrame {
        var buffer = buffer
        return PacketFrame.decode(from: &buffer)!
    }

    /// What mariadb/libmariadb sends: lenenc auth data, a database, the plugin, attributes.
    static let clientCapabilities: CapabilityFlags = [
        .longFlag, .connectWithDB, .localFiles, .protocol41, .interactive, .transactions, .secureConnection,
        .multiStatements, .multiResults, .psMultiResults, .pluginAuth, .connectAttributes, .pluginAuthLengthEncodedData,
        .sessionTrack, .mariaDBProgress, .mariaDBCacheMetadata,
    ]

    static func clientResponse(user: String = "iam_user", database: String? = "appdb") -> HandshakeResponse {
        HandshakeResponse(capabilities: clientCapabilities, characterSet: 45, user: user, authResponse: Array(repeating: 0xAB, count: 20),
                          database: database, authPluginName: "mysql_native_password",
                          attributes: ByteBuffer(bytes: [4] + Array("_pid".utf8) + [2] + Array("42".utf8)))
    }
}

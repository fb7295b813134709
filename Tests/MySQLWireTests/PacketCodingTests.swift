import NIOCore
import Testing

@testable import MySQLWire

@Suite struct PacketCodingTests {
    @Test func readsMariaDBGreetingIncludingExtendedCapabilities() throws {
        let greeting = Fixtures.mariaDBGreeting
        #expect(greeting.serverVersion == "5.5.5-10.11.19-MariaDB-0+deb12u1")
        #expect(greeting.connectionID == 31)
        #expect(greeting.scramble.count == 20)
        #expect(greeting.authPluginName == "mysql_native_password")
        #expect(greeting.characterSet == 8)
        #expect(greeting.capabilities.contains([.protocol41, .ssl, .pluginAuth, .secureConnection, .deprecateEOF]))
        #expect(!greeting.capabilities.contains(.clientMySQL))
        #expect(greeting.capabilities.extended == 0x1D)
        #expect(greeting.capabilities.contains([.mariaDBProgress, .mariaDBCacheMetadata]))
    }

    @Test func greetingEncodesToTheBytesItWasReadFrom() {
        var expected = ByteBuffer(bytes: Fixtures.mariaDBGreetingPacket)
        let payload = PacketFrame.decode(from: &expected)!.payload
        #expect(Array(Fixtures.mariaDBGreeting.encode().readableBytesView) == Array(payload.readableBytesView))
    }

    @Test func refusesGreetingsThatAreNotProtocol10OrTooShort() {
        #expect(throws: MySQLProtocolError.self) { try ServerGreeting(payload: ByteBuffer(bytes: [9, 0x41, 0])) }
        #expect(throws: MySQLProtocolError.self) { try ServerGreeting(payload: ByteBuffer(bytes: [10, 0x41, 0, 1, 0])) }
        #expect(throws: MySQLProtocolError.self) { try ServerGreeting(payload: ByteBuffer()) }
    }

    @Test func handshakeResponseRoundTripsWithEveryOptionalPart() throws {
        let response = Fixtures.clientResponse()
        let decoded = try HandshakeResponse(payload: response.encode())
        #expect(decoded == response)
        #expect(decoded.capabilities.extended == CapabilityFlags([.mariaDBProgress, .mariaDBCacheMetadata]).extended)
    }

    @Test func handshakeResponseLayoutIsByteExact() {
        let response = HandshakeResponse(capabilities: [.protocol41, .secureConnection, .pluginAuth, .clientMySQL],
                                         maxPacketSize: 0x0100_0000, characterSet: 33, user: "u", authResponse: [1, 2],
                                         authPluginName: "p")
        let expected: [UInt8] = [0x01, 0x82, 0x08, 0x00, 0, 0, 0, 1, 33] + Array(repeating: 0, count: 23)
            + [UInt8(ascii: "u"), 0, 2, 1, 2, UInt8(ascii: "p"), 0]
        #expect(Array(response.encode().readableBytesView) == expected)
    }

    @Test func tokenLongerThan250BytesUsesLengthEncodedAuthData() throws {
        var response = Fixtures.clientResponse()
        response.authResponse = Array(repeating: 0x61, count: 1_200) + [0]
        let encoded = response.encode()
        let decoded = try HandshakeResponse(payload: encoded)
        #expect(decoded.authResponse.count == 1_201)
        // user "iam_user\0" then 0xFC + 2-byte length.
        #expect(encoded.getBytes(at: 32 + 9, length: 3) == [0xFC, 0xB1, 0x04])
    }

    @Test func sslRequestIsRecognisedOnlyWithTheSSLFlagAndExactLength() {
        var response = Fixtures.clientResponse()
        response.capabilities.insert(.ssl)
        #expect(HandshakeResponse.isSSLRequest(response.encodeSSLRequest()))
        response.capabilities.remove(.ssl)
        #expect(!HandshakeResponse.isSSLRequest(response.encodeSSLRequest()))
        #expect(!HandshakeResponse.isSSLRequest(response.encode()))
    }

    @Test func malformedResponsesAreRefusedWithTheReason() {
        var pre41 = ByteBuffer(bytes: [0x85, 0, 0, 0, 0, 0, 0, 1, 33] + Array(repeating: 0, count: 23) + [0x75, 0, 0])
        #expect(throws: MySQLProtocolError("the client does not speak protocol 4.1 (CLIENT_PROTOCOL_41 is clear)")) {
            try HandshakeResponse(payload: pre41)
        }
        pre41.moveWriterIndex(to: 20)
        #expect(throws: MySQLProtocolError.self) { try HandshakeResponse(payload: pre41) }
        var response = Fixtures.clientResponse().encode()
        response.moveWriterIndex(to: 40)  // inside the user name
        #expect(throws: MySQLProtocolError("user name not terminated")) { try HandshakeResponse(payload: response) }
        var lying = Fixtures.clientResponse()
        lying.authResponse = []
        var bytes = lying.encode()
        bytes.setInteger(UInt8(0xFA), at: 32 + 9)  // auth length 250, far past the end
        #expect(throws: MySQLProtocolError("auth response longer than the packet")) { try HandshakeResponse(payload: bytes) }
    }

    @Test func errorPacketBytesCarryCodeAndSQLState() throws {
        let error = ErrorPacket.tooManyConnections("Too many")
        #expect(Array(error.frame(sequenceID: 2).readableBytesView)
            == [17, 0, 0, 2, 0xFF, 0x10, 0x04] + Array("#08004Too many".utf8))
        #expect(try ErrorPacket(payload: error.encode()) == error)
        // Before the client has answered, a server's ERR has no SQLSTATE.
        let early = try ErrorPacket(payload: ByteBuffer(bytes: [0xFF, 0x69, 0x04] + Array("Host blocked".utf8)))
        #expect(early == ErrorPacket(code: 1129, sqlState: "HY000", message: "Host blocked"))
    }

    @Test func authenticationRepliesAreClassified() throws {
        #expect(try AuthenticationReply(payload: ByteBuffer(bytes: [0xFE] + Array("mysql_clear_password".utf8) + [0]))
            == .authSwitch(plugin: "mysql_clear_password", data: []))
        #expect(try AuthenticationReply(payload: ByteBuffer(bytes: [0xFE] + Array("dialog".utf8) + [0, 4] + Array("Password: ".utf8)))
            == .authSwitch(plugin: "dialog", data: [4] + Array("Password: ".utf8)))
        #expect(try AuthenticationReply(payload: ByteBuffer(bytes: [0xFE])) == .authSwitch(plugin: nil, data: []))
        #expect(try AuthenticationReply(payload: ByteBuffer(bytes: [0x01, 0x03])) == .moreData([0x03]))
        #expect(throws: MySQLProtocolError.self) { try AuthenticationReply(payload: ByteBuffer(bytes: [0x07])) }
    }

    @Test(arguments: [UInt64(0), 250, 251, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000, UInt64.max])
    func lengthEncodedIntegersRoundTrip(value: UInt64) {
        var buffer = ByteBuffer()
        buffer.writeLengthEncodedInteger(value)
        let width = value < 251 ? 1 : value <= 0xFFFF ? 3 : value <= 0xFF_FFFF ? 4 : 9
        #expect(buffer.readableBytes == width)
        #expect(buffer.readLengthEncodedInteger() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test func lengthEncodedIntegerWaitsForAllItsBytes() {
        var buffer = ByteBuffer(bytes: [0xFD, 1, 2])
        #expect(buffer.readLengthEncodedInteger() == nil)
        #expect(buffer.readerIndex == 0)
        var invalid = ByteBuffer(bytes: [0xFF])
        #expect(invalid.readLengthEncodedInteger() == nil)
    }
}

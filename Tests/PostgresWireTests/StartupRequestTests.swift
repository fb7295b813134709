import NIOCore
import Testing

@testable import PostgresWire

@Suite struct StartupRequestTests {
    func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

    /// A length-prefixed startup-phase message: Int32 length (itself included), then `body`.
    static func message(_ body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 4)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
    }

    static let startup30 = message([0, 3, 0, 0] + Array("user\0app\0database\0appdb\0options\0-c a=b\0\0".utf8))

    @Test func decodesStartupMessageInEveryChunking() throws {
        let whole = Self.startup30
        let expected = StartupRequest.startup(protocolVersion: .init(major: 3, minor: 0), parameters: [("user", "app"), ("database", "appdb"), ("options", "-c a=b")])
        #expect(whole.count == 48)
        for split in 0..<whole.count {
            var buffer = bytes(Array(whole[..<split]))
            #expect(try StartupRequest.decode(from: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
            buffer.writeBytes(whole[split...])
            #expect(try StartupRequest.decode(from: &buffer) == expected)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func decodesNegotiationRequests() throws {
        var ssl = bytes([0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F])
        #expect(try StartupRequest.decode(from: &ssl) == .sslRequest)
        var gss = bytes([0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30])
        #expect(try StartupRequest.decode(from: &gss) == .gssEncryptionRequest)
        var cancel = bytes([0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0x30, 0x39, 1, 2, 3, 4])
        #expect(try StartupRequest.decode(from: &cancel) == .cancel(processID: 12345, secretKey: [1, 2, 3, 4]))
        var cancel32 = bytes([0, 0, 0, 44, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 7] + Array(repeating: 9, count: 32))
        #expect(try StartupRequest.decode(from: &cancel32) == .cancel(processID: 7, secretKey: Array(repeating: 9, count: 32)))
    }

    @Test func acceptsProtocol32AndRejectsOthers() throws {
        var v32 = bytes(Self.message([0, 3, 0, 2] + Array("user\0u\0\0".utf8)))
        #expect(try StartupRequest.decode(from: &v32)?.parameter("user") == "u")
        var v2 = bytes(Self.message([0, 2, 0, 0] + Array("user\0u\0\0".utf8)))
        #expect(throws: StartupDecodingError.unsupportedProtocolVersion(major: 2, minor: 0)) { try StartupRequest.decode(from: &v2) }
    }

    @Test(arguments: [
        [0, 0, 0, 4, 0, 3, 0, 0] as [UInt8],
        [0x7F, 0, 0, 0, 0, 3, 0, 0],
        [0, 0, 0, 12, 0, 3, 0, 0, 0x75, 0x73, 0x65, 0x72],
        [0, 0, 0, 10, 0, 3, 0, 0, 0, 0],
        [0, 0, 0, 9, 0x04, 0xD2, 0x16, 0x2F, 0],
    ])
    func rejectsMalformedPackets(packet: [UInt8]) {
        var buffer = ByteBuffer(bytes: packet)
        #expect(throws: StartupDecodingError.self) { try StartupRequest.decode(from: &buffer) }
    }

    @Test func refusesARepeatedParameterName() {
        var twice = bytes(Self.message([0, 3, 0, 0] + Array("user\0app\0database\0d\0user\0admin\0\0".utf8)))
        #expect(throws: StartupDecodingError.malformed("parameter user appears more than once")) { try StartupRequest.decode(from: &twice) }
    }
}

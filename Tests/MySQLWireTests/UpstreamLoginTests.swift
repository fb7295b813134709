import NIOCore
import Testing

@testable import MySQLWire

@Suite struct UpstreamLoginTests {
    static let token = "db.example.com:3306/?Action=connect&DBUser=iam_user&X-Amz-Signature=abc"

    static func makeLogin(capabilities: CapabilityFlags = Fixtures.clientCapabilities) -> MySQLUpstreamLogin {
        MySQLUpstreamLogin(client: .init(capabilities: capabilities, characterSet: 45, user: "iam_user", database: "appdb",
                                         attributes: ByteBuffer(bytes: [1, 0x61, 1, 0x62])))
    }

    static func greetingFrame(_ greeting: ServerGreeting = Fixtures.mariaDBGreeting) -> PacketFrame {
        PacketFrame(sequenceID: 0, payload: greeting.encode())
    }

    static func sentPayload(_ step: MySQLUpstreamLogin.Step?) -> PacketFrame? {
        guard case .send(let bytes) = step else { return nil }
        return Fixtures.frame(bytes)
    }

    @Test func logsInWithTLSAndTheTokenAsClearPassword() throws {
        var login = Self.makeLogin()
        let greeted = login.packet(Self.greetingFrame())
        #expect(greeted.count == 3)
        #expect(greeted.first == .greeted(Fixtures.mariaDBGreeting))
        #expect(greeted.last == .startTLS)
        let sslRequest = try #require(Self.sentPayload(greeted[1]))
        #expect(sslRequest.sequenceID == 1)
        #expect(HandshakeResponse.isSSLRequest(sslRequest.payload))

        // The token may come before or after TLS; the response waits for both.
        #expect(login.tokenReady(Self.token).isEmpty)
        let responseFrame = try #require(Self.sentPayload(login.tlsEstablished().first))
        #expect(responseFrame.sequenceID == 2)
        let response = try HandshakeResponse(payload: responseFrame.payload)
        #expect(response.user == "iam_user")
        #expect(response.database == "appdb")
        #expect(response.authPluginName == "mysql_clear_password")
        #expect(response.authResponse == Array(Self.token.utf8) + [0])
        #expect(response.attributes.map { Array($0.readableBytesView) } == [1, 0x61, 1, 0x62])
        // Exactly the client's flags, plus TLS; MariaDB's extended ones pass through too.
        #expect(response.capabilities == Fixtures.clientCapabilities.union(.ssl))

        let ok = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0])
        #expect(login.packet(PacketFrame(sequenceID: 3, payload: ok)) == [.loggedIn(ok: ok)])
    }

    @Test(arguments: [
        [0xFE] + Array("mysql_clear_password".utf8) + [0],  // Aurora: no plugin data
        [0xFE] + Array("mysql_clear_password".utf8) + [0] + Array(repeating: 0x41, count: 20) + [0],
        [0xFE] + Array("dialog".utf8) + [0, 4] + Array("Password: ".utf8),
        [0x01, 0x04],  // caching_sha2_password wants the full password
    ] as [[UInt8]])
    func answersEveryRequestForThePasswordWithTheTokenAtTheNextSequenceID(request: [UInt8]) throws {
        var login = Self.makeLogin()
        _ = login.packet(Self.greetingFrame())
        _ = login.tokenReady(Self.token)
        _ = login.tlsEstablished()
        let answer = try #require(Self.sentPayload(login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: request))).first))
        #expect(answer.sequenceID == 4)
        #expect(Array(answer.payload.readableBytesView) == Array(Self.token.utf8) + [0])
    }

    @Test func fastAuthenticationSuccessNeedsNoAnswer() {
        var login = Self.makeLogin()
        _ = login.packet(Self.greetingFrame())
        _ = login.tokenReady(Self.token)
        _ = login.tlsEstablished()
        #expect(login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0x01, 0x03]))).isEmpty)
    }

    @Test func aPasswordPluginIsAnAccessDeniedThatARetryCannotFix() throws {
        var login = Self.makeLogin()
        _ = login.packet(Self.greetingFrame())
        _ = login.tokenReady(Self.token)
        _ = login.tlsEstablished()
        let steps = login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0xFE] + Array("mysql_native_password".utf8) + [0])))
        guard case .refused(let error, let retryable) = steps.first else {
            Issue.record("expected a refusal, got \(steps)")
            return
        }
        #expect(error.code == 1045 && error.sqlState == "28000" && !retryable)
        #expect(error.message.contains("mysql_native_password"))
    }

    @Test func serverErrorsAreRetryableRefusals() {
        var login = Self.makeLogin()
        _ = login.packet(Self.greetingFrame())
        _ = login.tokenReady(Self.token)
        _ = login.tlsEstablished()
        let denied = ErrorPacket.accessDenied("Access denied for user 'iam_user'@'localhost'")
        #expect(login.packet(PacketFrame(sequenceID: 3, payload: denied.encode())) == [.refused(denied, retryable: true)])
    }

    @Test func aServerWithoutTLSIsNeverSentTheToken() {
        var greeting = Fixtures.mariaDBGreeting
        greeting.capabilities.remove(.ssl)
        var login = Self.makeLogin()
        let steps = login.packet(Self.greetingFrame(greeting))
        #expect(steps.last == .failed("the server does not offer TLS, which IAM authentication requires"))
        #expect(!steps.contains { if case .send = $0 { true } else { false } })
        #expect(login.tokenReady(Self.token).isEmpty)
    }

    @Test func aClientFlagTheServerLacksStopsTheLoginInsteadOfCorruptingTheSession() {
        var greeting = Fixtures.mariaDBGreeting
        greeting.capabilities.remove(.deprecateEOF)
        var login = Self.makeLogin(capabilities: Fixtures.clientCapabilities.union(.deprecateEOF))
        guard case .failed(let reason) = login.packet(Self.greetingFrame(greeting)).last else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.contains("reconnect"))
    }

    @Test func aBlockedHostsErrorBeforeTheGreetingIsReported() {
        var login = Self.makeLogin()
        let blocked = ErrorPacket(code: 1129, sqlState: "HY000", message: "Host '127.0.0.1' is blocked")
        #expect(login.packet(PacketFrame(sequenceID: 0, payload: blocked.encode())) == [.refused(blocked, retryable: false)])
    }

    @Test func aServerThatKeepsAskingIsCutOff() {
        var login = Self.makeLogin()
        _ = login.packet(Self.greetingFrame())
        _ = login.tokenReady(Self.token)
        _ = login.tlsEstablished()
        var last: [MySQLUpstreamLogin.Step] = []
        for sequence in stride(from: UInt8(3), to: 20, by: 2) {
            last = login.packet(PacketFrame(sequenceID: sequence, payload: ByteBuffer(bytes: [0x01, 0x04])))
            if case .failed = last.first { break }
        }
        guard case .failed = last.first else {
            Issue.record("expected the login to give up")
            return
        }
    }
}

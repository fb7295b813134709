import NIOCore
import Testing

@testable import MySQLWire

/// Secrets Manager users: the upstream login answers whichever plugin the server asks for with
/// the stored password. Expected scrambles were computed with Python's hashlib, not this code.
@Suite struct PasswordLoginTests {
    static let password = "Secret-Pa55"
    static let nonce: [UInt8] = Array(1...20)

    @Test func scramblesMatchAnIndependentComputation() {
        #expect(MySQLPasswordAnswer.answer(plugin: "mysql_native_password", password: Self.password, nonce: Self.nonce)
                == Fixtures.hex("d72aadc60e8c1415fbe9be46018e666d2b02734d"))
        #expect(MySQLPasswordAnswer.answer(plugin: "caching_sha2_password", password: Self.password, nonce: Self.nonce)
                == Fixtures.hex("bd6de8b31f3cfdb00552a201ceb795b0977fe57c0ba9efc4c1dc6dbaed6cbdb2"))
        // A trailing NUL some servers send after the nonce is not part of it.
        #expect(MySQLPasswordAnswer.answer(plugin: "mysql_native_password", password: Self.password, nonce: Self.nonce + [0])
                == Fixtures.hex("d72aadc60e8c1415fbe9be46018e666d2b02734d"))
        for plugin in ["mysql_clear_password", "sha256_password", "dialog"] {
            #expect(MySQLPasswordAnswer.answer(plugin: plugin, password: Self.password, nonce: Self.nonce) == Array(Self.password.utf8) + [0])
        }
        #expect(MySQLPasswordAnswer.answer(plugin: "mysql_native_password", password: "", nonce: Self.nonce) == [])
        #expect(MySQLPasswordAnswer.answer(plugin: "client_ed25519", password: Self.password, nonce: Self.nonce) == nil)
    }

    static func greeting(plugin: String) -> ServerGreeting {
        var greeting = Fixtures.mariaDBGreeting
        greeting.authPluginName = plugin
        greeting.scramble = nonce
        return greeting
    }

    /// A password login through greeting, TLS and the first response; returns it and that response.
    static func loggedInUpTo(greetingPlugin: String) throws -> (MySQLUpstreamLogin, HandshakeResponse) {
        var login = MySQLUpstreamLogin(client: Fixtures.clientResponse(), credential: .password)
        _ = login.packet(PacketFrame(sequenceID: 0, payload: greeting(plugin: greetingPlugin).encode()))
        _ = login.tokenReady(password)
        let sent = try #require(UpstreamLoginTests.sentPayload(login.tlsEstablished().first))
        #expect(sent.sequenceID == 2)
        return (login, try HandshakeResponse(payload: sent.payload))
    }

    @Test func theFirstResponseAnswersTheGreetingsPluginWithItsNonce() throws {
        let (_, native) = try Self.loggedInUpTo(greetingPlugin: "mysql_native_password")
        #expect(native.authPluginName == "mysql_native_password")
        #expect(native.authResponse == MySQLPasswordAnswer.answer(plugin: "mysql_native_password", password: Self.password, nonce: Self.nonce))
        let (_, sha2) = try Self.loggedInUpTo(greetingPlugin: "caching_sha2_password")
        #expect(sha2.authPluginName == "caching_sha2_password")
        #expect(sha2.authResponse.count == 32)
        // A plugin the proxy cannot answer: a native answer, and the server switches.
        let (_, other) = try Self.loggedInUpTo(greetingPlugin: "client_ed25519")
        #expect(other.authPluginName == "mysql_native_password")
    }

    @Test func anAuthSwitchIsAnsweredWithTheNewPluginAndNonce() throws {
        var (login, _) = try Self.loggedInUpTo(greetingPlugin: "mysql_native_password")
        let newNonce: [UInt8] = Array(repeating: 0x5A, count: 20)
        let switchRequest = [0xFE] + Array("caching_sha2_password".utf8) + [0] + newNonce + [0]
        let answer = try #require(UpstreamLoginTests.sentPayload(login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: switchRequest))).first))
        #expect(answer.sequenceID == 4)
        #expect(Array(answer.payload.readableBytesView) == MySQLPasswordAnswer.answer(plugin: "caching_sha2_password", password: Self.password, nonce: newNonce))
        // Full authentication: the password itself, over the TLS the login already runs on.
        let full = try #require(UpstreamLoginTests.sentPayload(login.packet(PacketFrame(sequenceID: 5, payload: ByteBuffer(bytes: [0x01, 0x04]))).first))
        #expect(full.sequenceID == 6)
        #expect(Array(full.payload.readableBytesView) == Array(Self.password.utf8) + [0])
        let ok = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0])
        #expect(login.packet(PacketFrame(sequenceID: 7, payload: ok)) == [.loggedIn(ok: ok)])
    }

    @Test func fastAuthenticationWaitsForTheOK() throws {
        var (login, _) = try Self.loggedInUpTo(greetingPlugin: "caching_sha2_password")
        #expect(login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0x01, 0x03]))).isEmpty)
        let ok = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0])
        #expect(login.packet(PacketFrame(sequenceID: 4, payload: ok)) == [.loggedIn(ok: ok)])
    }

    @Test func aPluginThePasswordCannotAnswerIsRefusedWithoutRetry() throws {
        var (login, _) = try Self.loggedInUpTo(greetingPlugin: "mysql_native_password")
        let steps = login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0xFE] + Array("client_ed25519".utf8) + [0] + Self.nonce)))
        guard case .refused(let error, let retryable) = steps.first else {
            Issue.record("expected a refusal, got \(steps)")
            return
        }
        #expect(!retryable)
        #expect(error.code == 1045)
        #expect(error.message.contains("asks user 'iam_user' for client_ed25519, which iam-db-proxy cannot answer with a password"))
    }

    @Test func aServerRefusalOfThePasswordIsRetryable() throws {
        var (login, _) = try Self.loggedInUpTo(greetingPlugin: "mysql_native_password")
        let refusal = ErrorPacket.accessDenied("Access denied for user 'iam_user'@'localhost' (using password: YES)")
        #expect(login.packet(PacketFrame(sequenceID: 3, payload: refusal.encode())) == [.refused(refusal, retryable: true)])
    }

    @Test func unexpectedPluginDataEndsTheLogin() throws {
        var (login, _) = try Self.loggedInUpTo(greetingPlugin: "mysql_native_password")
        guard case .failed(let reason)? = login.packet(PacketFrame(sequenceID: 3, payload: ByteBuffer(bytes: [0x01, 0x02, 0x09]))).first else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.contains("mysql_native_password data"))
    }
}

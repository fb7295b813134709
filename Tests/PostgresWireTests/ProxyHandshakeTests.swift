import NIOCore
import Testing

@testable import PostgresWire

/// The handshake state machine, event by event, with the exact bytes each side sees.
@Suite struct ProxyHandshakeTests {
    typealias Action = PostgresProxyHandshake.Action

    static let startupParameters = [("user", "app"), ("database", "appdb"), ("application_name", "psql")]

    func message(_ type: Character, _ body: [UInt8]) -> ByteBuffer {
        BackendMessage(type: UInt8(ascii: type.unicodeScalars.first!), body: ByteBuffer(bytes: body)).wireBytes
    }

    func authentication(_ code: Int32, _ extra: [UInt8] = []) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(code)
        body.writeBytes(extra)
        return message("R", Array(body.readableBytesView))
    }

    /// A machine that has read the client's startup and is connected with TLS upstream.
    func authenticatingMachine(allowed: Set<String>? = nil, serverCertificate: [UInt8]? = nil) -> PostgresProxyHandshake {
        var machine = PostgresProxyHandshake(configuration: .init(allowedUsers: allowed))
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters)
        #expect(machine.clientBytes(&startup) == [.connectUpstream(user: "app")])
        #expect(machine.upstreamConnected() == [.sendToUpstream(FrontendMessages.sslRequest())])
        var answer = ByteBuffer(string: "S")
        #expect(machine.upstreamBytes(&answer) == [.startUpstreamTLS])
        #expect(machine.upstreamTLSEstablished(serverCertificate: serverCertificate) == [.sendToUpstream(FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters))])
        return machine
    }

    @Test func sslRequestIsDeclinedWithoutClientTLS() {
        var machine = PostgresProxyHandshake(configuration: .init())
        var request = FrontendMessages.sslRequest()
        #expect(machine.clientBytes(&request) == [.sendToClient(ByteBuffer(string: "N"))])
        #expect(!machine.hasReadStartup)
        #expect(machine.declinedTLSAwaitingStartup, "a client that leaves now required TLS")
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [("user", "app")])
        _ = machine.clientBytes(&startup)
        #expect(!machine.declinedTLSAwaitingStartup, "it went on in plaintext")
        #expect(!PostgresProxyHandshake(configuration: .init()).declinedTLSAwaitingStartup, "it never asked")
    }

    @Test func sslRequestIsAcceptedWithClientTLSUnlessBytesFollow() {
        var machine = PostgresProxyHandshake(configuration: .init(clientTLSAvailable: true))
        var request = FrontendMessages.sslRequest()
        #expect(machine.clientBytes(&request) == [.acceptClientTLS(ByteBuffer(string: "S"))])

        var smuggling = PostgresProxyHandshake(configuration: .init(clientTLSAvailable: true))
        var pipelined = FrontendMessages.sslRequest()
        pipelined.writeString("Q")
        guard case .fail(let failure)? = smuggling.clientBytes(&pipelined).first, failure.error == nil else {
            Issue.record("plaintext after SSLRequest must close the connection without an answer")
            return
        }
    }

    @Test func userOutsideAllowListIsRefusedWith28000() throws {
        var machine = PostgresProxyHandshake(configuration: .init(allowedUsers: ["other"]))
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters)
        guard case .fail(let failure)? = machine.clientBytes(&startup).first, let error = failure.error else {
            Issue.record("expected an ErrorResponse")
            return
        }
        var bytes = error
        let decoded = try #require(try BackendMessage.decode(from: &bytes))
        let response = try ErrorResponse(body: decoded.body)
        #expect(response.sqlState == "28000" && response.severity == "FATAL")
    }

    @Test func upstreamThatRefusesTLSOrSmugglesBytesFails() {
        for answer in ["N", "SX"] {
            var machine = PostgresProxyHandshake(configuration: .init())
            var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters)
            _ = machine.clientBytes(&startup)
            _ = machine.upstreamConnected()
            var bytes = ByteBuffer(string: answer)
            guard case .fail(let failure)? = machine.upstreamBytes(&bytes).first, let error = failure.error else {
                Issue.record("answer \(answer) must fail the login")
                continue
            }
            var copy = error
            #expect(try! ErrorResponse(body: BackendMessage.decode(from: &copy)!.body).sqlState == "08001")
        }
    }

    @Test func cleartextRequestWaitsForTokenThenLoginIsRelayed() {
        var machine = authenticatingMachine()
        var negotiate = message("v", [0, 0, 0, 0, 0, 0, 0, 0])
        var request = negotiate
        request.writeImmutableBuffer(authentication(3))
        negotiate.clear()
        #expect(machine.upstreamBytes(&request) == [], "nothing to send until the token is there")
        #expect(machine.tokenReady("TOKEN", wasCached: false) == [.sendToUpstream(FrontendMessages.password("TOKEN"))])

        let ok = authentication(0)
        let status = message("S", Array("client_encoding\0UTF8\0".utf8))
        let key = message("K", [0, 0, 0x30, 0x39, 1, 2, 3, 4])
        let ready = message("Z", [UInt8(ascii: "I")])
        var login = ByteBuffer()
        for part in [ok, status, key, ready] { login.writeImmutableBuffer(part) }
        login.writeString("Tleftover")
        let actions = machine.upstreamBytes(&login)
        guard actions.count == 3, case .registerBackendKey(let server, let client) = actions[0], actions[2] == .startRelaying else {
            Issue.record("expected the key registered, the login sent on, relaying: \(actions)")
            return
        }
        // The client gets the backend's process id with a secret of the proxy's own, same length.
        #expect(server == BackendKey(processID: 12345, secretKey: [1, 2, 3, 4]))
        #expect(client.processID == 12345 && client.secretKey.count == 4 && client.secretKey != server.secretKey)
        var expected = message("v", [0, 0, 0, 0, 0, 0, 0, 0])
        for part in [ok, status, client.message, ready] { expected.writeImmutableBuffer(part) }
        #expect(actions[1] == .sendToClient(expected))
        #expect(login.readableBytes == "Tleftover".utf8.count, "bytes after ReadyForQuery are relayed, not parsed")
        #expect(machine.isRelaying)
    }

    @Test func aLongerProtocol32SecretIsReplacedWithOneAsLongAndAMalformedKeyEndsTheLogin() {
        var machine = authenticatingMachine()
        _ = machine.tokenReady("TOKEN", wasCached: false)
        var login = authentication(0)
        login.writeImmutableBuffer(message("K", [0, 0, 0, 7] + Array(repeating: 9, count: 32)))
        guard case .registerBackendKey(_, let client)? = machine.upstreamBytes(&login).first else {
            Issue.record("expected a key")
            return
        }
        #expect(client.secretKey.count == 32 && client.secretKey != Array(repeating: 9, count: 32))

        var broken = authenticatingMachine()
        _ = broken.tokenReady("TOKEN", wasCached: false)
        var short = authentication(0)
        short.writeImmutableBuffer(message("K", [0, 0, 0, 7, 1]))
        guard case .fail(let failure)? = broken.upstreamBytes(&short).last else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.sqlState == "08P01")
    }

    @Test func md5AndSCRAMAreAnsweredWithTheToken() {
        var md5 = authenticatingMachine()
        _ = md5.tokenReady("TOKEN", wasCached: false)
        var request = authentication(5, [1, 2, 3, 4])
        #expect(md5.upstreamBytes(&request) == [.sendToUpstream(FrontendMessages.password(MD5PasswordAnswer.answer(password: "TOKEN", user: "app", salt: [1, 2, 3, 4])))])

        var scram = authenticatingMachine()
        _ = scram.tokenReady("TOKEN", wasCached: false)
        var sasl = authentication(10, Array("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0".utf8))
        guard case .sendToUpstream(var initial)? = scram.upstreamBytes(&sasl).first else {
            Issue.record("expected a SASLInitialResponse")
            return
        }
        #expect(initial.readInteger(as: UInt8.self) == UInt8(ascii: "p"))
        initial.moveReaderIndex(forwardBy: 4)
        #expect(initial.readNullTerminatedString() == "SCRAM-SHA-256")
    }

    /// The SASL mechanism and the first bytes of its initial response.
    func saslInitialResponse(offering mechanisms: [String], serverCertificate: [UInt8]?) -> (mechanism: String?, data: String)? {
        var machine = authenticatingMachine(serverCertificate: serverCertificate)
        _ = machine.tokenReady("PASSWORD", wasCached: false)
        var sasl = authentication(10, Array((mechanisms.joined(separator: "\0") + "\0\0").utf8))
        guard case .sendToUpstream(var initial)? = machine.upstreamBytes(&sasl).first, initial.readInteger(as: UInt8.self) == UInt8(ascii: "p") else {
            return nil
        }
        initial.moveReaderIndex(forwardBy: 4)
        let mechanism = initial.readNullTerminatedString()
        initial.moveReaderIndex(forwardBy: 4)
        return (mechanism, initial.readString(length: initial.readableBytes) ?? "")
    }

    @Test func scramBindsToTheVerifiedCertificateWhenTheServerOffersPlus() throws {
        let both = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        let bound = try #require(saslInitialResponse(offering: both, serverCertificate: ChannelBindingTests.ecdsaSHA384))
        #expect(bound.mechanism == "SCRAM-SHA-256-PLUS")
        #expect(bound.data.hasPrefix("p=tls-server-end-point,,n=,r="))
        // No certificate hash to bind to (an Ed25519 certificate): plain SCRAM, which the server accepts.
        let unbound = try #require(saslInitialResponse(offering: both, serverCertificate: ChannelBindingTests.ed25519))
        #expect(unbound.mechanism == "SCRAM-SHA-256" && unbound.data.hasPrefix("n,,n=,r="))
        // Only PLUS on offer and nothing to bind: a clear refusal, never a downgrade the server would reject.
        var machine = authenticatingMachine(serverCertificate: nil)
        _ = machine.tokenReady("PASSWORD", wasCached: false)
        var plusOnly = authentication(10, Array("SCRAM-SHA-256-PLUS\0\0".utf8))
        guard case .fail(let failure)? = machine.upstreamBytes(&plusOnly).first else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.sqlState == "28000")
    }

    @Test func cachedTokenRefusedRetriesOnceThenReportsTheServerError() {
        var machine = authenticatingMachine()
        _ = machine.tokenReady("OLD", wasCached: true)
        var request = authentication(3)
        _ = machine.upstreamBytes(&request)
        let refusal = ErrorResponse(fatal: .invalidAuthorization, "PAM authentication failed for user \"app\"").encoded()
        var first = refusal
        #expect(machine.upstreamBytes(&first) == [.retryWithFreshToken(user: "app")])
        #expect(machine.attempt == 2)

        #expect(machine.upstreamConnected() == [.sendToUpstream(FrontendMessages.sslRequest())])
        var answer = ByteBuffer(string: "S")
        _ = machine.upstreamBytes(&answer)
        _ = machine.upstreamTLSEstablished()
        _ = machine.tokenReady("NEW", wasCached: false)
        var again = authentication(3)
        #expect(machine.upstreamBytes(&again) == [.sendToUpstream(FrontendMessages.password("NEW"))])
        var second = refusal
        guard case .fail(let failure)? = machine.upstreamBytes(&second).first else {
            Issue.record("a fresh token that fails must be reported")
            return
        }
        #expect(failure.error == refusal, "the server's ErrorResponse reaches the client unchanged")
        #expect(failure.sqlState == "28000")
    }

    @Test func tokenFailureIs08001() throws {
        var machine = authenticatingMachine()
        guard case .fail(let failure)? = machine.tokenFailed("could not sign an IAM auth token: no AWS credentials found").first, let error = failure.error else {
            Issue.record("expected an ErrorResponse")
            return
        }
        var bytes = error
        let response = try ErrorResponse(body: try #require(try BackendMessage.decode(from: &bytes)).body)
        #expect(response.sqlState == "08001")
        #expect(response.message.contains("no AWS credentials found"))
    }
}

extension ProxyHandshakeTests {
    @Test func fullListenerRefusesAfterStartupWith53300() throws {
        var machine = PostgresProxyHandshake(configuration: .init(tooManyConnections: true))
        var ssl = FrontendMessages.sslRequest()
        #expect(machine.clientBytes(&ssl) == [.sendToClient(ByteBuffer(string: "N"))], "SSLRequest is answered first")
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters)
        guard case .fail(let failure)? = machine.clientBytes(&startup).first, var error = failure.error else {
            Issue.record("expected an ErrorResponse")
            return
        }
        #expect(try ErrorResponse(body: try #require(try BackendMessage.decode(from: &error)).body).sqlState == "53300")
    }

    /// The SQLSTATE of the ErrorResponse a `.fail` action carries, if any.
    func failureState(_ actions: [Action]) -> String? {
        guard case .fail(let failure)? = actions.last, var error = failure.error, let message = try? BackendMessage.decode(from: &error) else { return nil }
        let decoded = (try? ErrorResponse(body: message.body))?.sqlState
        #expect(decoded == failure.sqlState, "the typed SQLSTATE must be the one on the wire")
        return decoded
    }

    @Test func thousandsOfPipelinedNegotiationRequestsGetOneAnswerEachKindThen08P01() {
        // Regression: each request was answered by a recursive call, so ~8,000 of them in one
        // read overflowed the event loop's stack, and every one was answered.
        for request in [FrontendMessages.sslRequest(), Self.gssRequest] {
            var machine = PostgresProxyHandshake(configuration: .init())
            var flood = ByteBuffer()
            for _ in 0..<20_000 { flood.writeImmutableBuffer(request) }
            let actions = machine.clientBytes(&flood)
            #expect(actions.count == 2)
            #expect(actions.first == .sendToClient(ByteBuffer(string: "N")))
            #expect(failureState(actions) == "08P01")
        }
    }

    static var gssRequest: ByteBuffer { ByteBuffer(bytes: [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30]) }

    @Test func oneSSLRequestAndOneGSSRequestThenStartupLikePostgreSQL() {
        var machine = PostgresProxyHandshake(configuration: .init())
        var bytes = Self.gssRequest
        bytes.writeImmutableBuffer(FrontendMessages.sslRequest())
        bytes.writeImmutableBuffer(FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters))
        #expect(machine.clientBytes(&bytes) == [
            .sendToClient(ByteBuffer(string: "N")), .sendToClient(ByteBuffer(string: "N")), .connectUpstream(user: "app"),
        ])
    }

    @Test func replicationIsRefusedUnlessAllowed() {
        for (value, refused) in [("true", true), ("database", true), ("on", true), ("1", true), ("yes", true),
                                 ("false", false), ("off", false), ("0", false), ("no", false), ("f", false)] {
            let parameters = Self.startupParameters + [("replication", value)]
            var machine = PostgresProxyHandshake(configuration: .init())
            var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters)
            let actions = machine.clientBytes(&startup)
            if refused {
                #expect(failureState(actions) == "28000", "replication=\(value)")
            } else {
                #expect(actions == [.connectUpstream(user: "app")], "replication=\(value)")
            }
            var allowing = PostgresProxyHandshake(configuration: .init(allowReplication: true))
            var again = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters)
            #expect(allowing.clientBytes(&again) == [.connectUpstream(user: "app")])
        }
    }

    @Test func duplicatedStartupParameterIs08P01EvenWhenTheFirstIsAllowed() {
        // Regression: the first `user` was checked and signed for, PostgreSQL logged in the last.
        var machine = PostgresProxyHandshake(configuration: .init(allowedUsers: ["app"]))
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: Self.startupParameters + [("user", "admin")])
        let actions = machine.clientBytes(&startup)
        #expect(failureState(actions) == "08P01")
        #expect(!actions.contains(.connectUpstream(user: "app")))
    }

    @Test func optionsAndProtocolExtensionsAreForwardedUnchanged() {
        let parameters = Self.startupParameters + [("options", "-c search_path=app"), ("_pq_.test", "1")]
        var machine = PostgresProxyHandshake(configuration: .init())
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters)
        #expect(machine.clientBytes(&startup) == [.connectUpstream(user: "app")])
        _ = machine.upstreamConnected()
        var answer = ByteBuffer(string: "S")
        _ = machine.upstreamBytes(&answer)
        #expect(machine.upstreamTLSEstablished() == [.sendToUpstream(FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters))])
    }

    @Test func parametersThatAreNotUTF8AreForwardedByteForByte() {
        // Regression: a LATIN1 database name was turned into U+FFFD and could not be reached.
        let body: [UInt8] = [0, 3, 0, 0] + Array("user\0app\0database\0caf".utf8) + [0xE9, 0] + Array("application_name\0".utf8) + [0xFF, 0xFE, 0, 0]
        let startup = ByteBuffer(bytes: StartupRequestTests.message(body))
        var machine = PostgresProxyHandshake(configuration: .init())
        var bytes = startup
        #expect(machine.clientBytes(&bytes) == [.connectUpstream(user: "app")])
        _ = machine.upstreamConnected()
        var answer = ByteBuffer(string: "S")
        _ = machine.upstreamBytes(&answer)
        #expect(machine.upstreamTLSEstablished() == [.sendToUpstream(startup)])
    }

    @Test func aUserNameThatIsNotUTF8Is08P01() {
        let body: [UInt8] = [0, 3, 0, 0] + Array("user\0jos".utf8) + [0xE9, 0, 0]
        var bytes = ByteBuffer(bytes: StartupRequestTests.message(body))
        var machine = PostgresProxyHandshake(configuration: .init())
        #expect(failureState(machine.clientBytes(&bytes)) == "08P01")
    }
}

/// Throttled logins: recognised from AWS's documented messages, and retried from the start.
@Suite struct ThrottledLoginTests {
    @Test(arguments: [
        ("The IAM authentication failed because of too many competing requests.", true),
        ("Rate of connection to proxy exceeded 100.", true),
        ("Rate exceeded", true),
        ("PAM authentication failed for user \"app\"", false),
        ("sorry, too many clients already", false),
    ])
    func theDocumentedMessagesAreThrottles(message: String, throttled: Bool) {
        #expect(ThrottledLogin.isThrottle(ErrorResponse(fatal: .cannotConnect, message)) == throttled)
    }

    @Test func aThrottledLoginStartsOverOnANewConnection() {
        var machine = ProxyHandshakeTests().authenticatingMachine()
        #expect(machine.tokenReady("TOKEN", wasCached: true) == [])
        var request = ProxyHandshakeTests().authentication(3)
        _ = machine.upstreamBytes(&request)
        var refusal = ErrorResponse(fatal: .cannotConnect, "The IAM authentication failed because of too many competing requests.").encoded()
        let wire = refusal
        let actions = machine.upstreamBytes(&refusal)
        guard case .retryThrottled(let user, let failure) = actions.first, actions.count == 1 else {
            Issue.record("\(actions)")
            return
        }
        #expect(user == "app" && failure.error == wire && failure.reason.hasPrefix("server throttled the login"))
        // As before dialing: the new connection asks for TLS first, and a cached token may still be refused once.
        #expect(machine.upstreamConnected() == [.sendToUpstream(FrontendMessages.sslRequest())])
    }
}

/// The stale-DNS guard of a writer listener: the login is held until the server says it is no standby.
@Suite struct WritableCheckTests {
    func loggedInUpToReady(_ machine: inout PostgresProxyHandshake) -> [PostgresProxyHandshake.Action] {
        _ = machine.tokenReady("TOKEN", wasCached: false)
        var login = ProxyHandshakeTests().authentication(0)
        login.writeImmutableBuffer(BackendKey(processID: 7, secretKey: [1, 2, 3, 4]).message)
        login.writeImmutableBuffer(ProxyHandshakeTests().message("Z", [UInt8(ascii: "I")]))
        return machine.upstreamBytes(&login)
    }

    func answer(_ value: String) -> ByteBuffer {
        let helper = ProxyHandshakeTests()
        var bytes = helper.message("T", [0, 1] + Array("pg_is_in_recovery\0".utf8) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 1, 255, 255, 255, 255, 0, 0])
        bytes.writeImmutableBuffer(helper.message("D", [0, 1, 0, 0, 0, 1] + Array(value.utf8)))
        bytes.writeImmutableBuffer(helper.message("C", Array("SELECT 1\0".utf8)))
        bytes.writeImmutableBuffer(helper.message("Z", [UInt8(ascii: "I")]))
        return bytes
    }

    func guardedMachine() -> PostgresProxyHandshake {
        var machine = ProxyHandshakeTests().authenticatingMachine()
        machine.configuration.checksWritable = true
        return machine
    }

    @Test func aWriterIsLoggedInOnlyAfterTheServerSaysItIsNoStandby() {
        var machine = guardedMachine()
        #expect(loggedInUpToReady(&machine) == [.sendToUpstream(FrontendMessages.query("SELECT pg_is_in_recovery()"))], "nothing to the client yet")
        var primary = answer("f")
        let actions = machine.upstreamBytes(&primary)
        guard actions.count == 3, case .registerBackendKey = actions[0], case .sendToClient(let greeting) = actions[1] else {
            Issue.record("\(actions)")
            return
        }
        #expect(actions[2] == .startRelaying && machine.isRelaying)
        var copy = greeting
        var types: [UInt8] = []
        while let message = try? BackendMessage.decode(from: &copy) { types.append(message.type) }
        #expect(types == Array("RKZ".utf8), "the login's answer, none of the check's")
    }

    @Test func aStandbyIsLeftAndTheLoginStartsOver() {
        var machine = guardedMachine()
        _ = loggedInUpToReady(&machine)
        var standby = answer("t")
        let actions = machine.upstreamBytes(&standby)
        guard case .retryReadOnly(let user, let failure) = actions.first, actions.count == 1 else {
            Issue.record("\(actions)")
            return
        }
        #expect(user == "app" && failure.sqlState == "08001" && failure.reason.contains("stale DNS"))
        #expect(machine.upstreamConnected() == [.sendToUpstream(FrontendMessages.sslRequest())], "a new connection, from the start")
        #expect(machine.loggedInSession == nil)
    }

    @Test func withoutTheGuardTheLoginGoesStraightOn() {
        var machine = ProxyHandshakeTests().authenticatingMachine()
        #expect(loggedInUpToReady(&machine).last == .startRelaying)
    }
}

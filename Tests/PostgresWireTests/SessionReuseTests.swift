import NIOCore
import Testing

@testable import PostgresWire

/// The session key and the reuse verdict (PostgreSQL, pure): which clients may share a logged-in
/// session, and after which conversations a session may be reset and parked.
@Suite struct SessionReuseTests {
    static let v30 = StartupRequest.ProtocolVersion(major: 3, minor: 0)

    @Test func theKeyIsEveryStartupParameterAndTheProtocol() {
        let base = [("user", "app"), ("database", "appdb"), ("application_name", "web")]
        let key = PostgresSessionKey(protocolVersion: Self.v30, parameters: base)
        #expect(key == PostgresSessionKey(protocolVersion: Self.v30, parameters: base.reversed()), "order does not matter")
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("options", "-c search_path=x")]))
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app"), ("database", "appdb"), ("application_name", "cli")]))
        #expect(key != PostgresSessionKey(protocolVersion: .init(major: 3, minor: 2), parameters: base))
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("_pq_.test", "1")]))
        // No database given means the user's name, as the server reads it.
        #expect(PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app")])
                == PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app"), ("database", "app")]))
        #expect(PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("replication", "database")]) == nil)
        #expect(key?.description == "app@appdb (protocol 3.0, 1 more parameters)")
    }

    static func tracker(client: String, server: String) -> SessionReuseTracker {
        var tracker = SessionReuseTracker()
        // Interleaved as the wire would have them: each client message, then the server's answers.
        for (clientType, serverTypes) in zip(client.split(separator: " "), server.split(separator: " ")) {
            for type in clientType.utf8 { tracker.clientMessage(type: type) }
            for answer in serverTypes.split(separator: ",") where answer != "-" {
                let bytes = Array(answer.utf8)
                tracker.serverMessage(type: bytes[0], readyStatus: bytes.count > 1 ? bytes[1] : nil)
            }
        }
        return tracker
    }

    @Test(arguments: [
        ("Q", "T,D,C,ZI"),                       // a simple query
        ("PBDES", "1,2,T,D,C,ZI"),               // an extended-protocol batch
        ("Q Q", "C,ZT C,ZI"),                    // BEGIN; COMMIT
        ("Q Q", "C,ZT E,ZE"),                    // … then a failed statement
        ("Q", "E,ZI"),                           // an error outside a transaction leaves it idle
        ("Q d c", "G - C,ZI"),                   // COPY FROM STDIN, finished
    ])
    func reusableAfterAnsweredConversations(client: String, server: String) {
        let tracker = Self.tracker(client: client, server: server)
        let expected: SessionReuseTracker.Verdict = server.hasSuffix("ZE") ? .notReusable("a failed transaction was open") : .reusable
        #expect(tracker.verdict == expected, "\(client) / \(server)")
    }

    @Test(arguments: [
        ("Q", "C,ZT", "a transaction was open"),
        ("Q", "T,D", "a query was still running"),
        ("PBE", "1,2,D", "an extended-protocol batch was not ended with Sync"),
        ("Q d", "G -", "a COPY was open"),
        ("Q", "H", "a COPY was open"),
        ("F", "-", "the client used the fast-path function call protocol"),
    ])
    func neverReusedMidConversation(client: String, server: String, reason: String) {
        #expect(Self.tracker(client: client, server: server).verdict == .notReusable(reason))
    }
}

/// The reset's exchange, byte by byte.
@Suite struct SessionResetExchangeTests {
    static func message(_ type: Character, _ body: [UInt8]) -> ByteBuffer {
        BackendMessage(type: UInt8(ascii: type.unicodeScalars.first!), body: ByteBuffer(bytes: body)).wireBytes
    }
    static let complete = message("C", Array("DISCARD ALL\0".utf8))
    static let idle = message("Z", [UInt8(ascii: "I")])
    static func status(_ name: String, _ value: String) -> ByteBuffer { message("S", Array("\(name)\0\(value)\0".utf8)) }

    static func run(_ parts: [ByteBuffer], splitAt split: Int? = nil) -> SessionResetExchange.Outcome {
        var exchange = SessionResetExchange()
        var all = ByteBuffer()
        for part in parts { all.writeImmutableBuffer(part) }
        guard let split, split < all.readableBytes else { return exchange.serverBytes(&all) }
        var first = all.getSlice(at: 0, length: split)!
        var rest = all.getSlice(at: split, length: all.readableBytes - split)!
        #expect(exchange.serverBytes(&first) == .pending)
        first.writeBuffer(&rest)
        return exchange.serverBytes(&first)
    }

    @Test func theRequestIsASimpleDiscardAll() {
        #expect(Array(SessionResetExchange().request.readableBytesView) == [UInt8(ascii: "Q"), 0, 0, 0, 16] + Array("DISCARD ALL\0".utf8))
    }

    @Test func aCompleteResetKeepsTheReportedParametersAtEveryCutPoint() {
        let parts = [Self.message("A", [0, 0, 0, 9] + Array("chan\0hi\0".utf8)), Self.complete, Self.status("application_name", ""), Self.idle]
        let total = parts.map { $0.readableBytes }.reduce(0, +)
        for split in 1..<total {
            #expect(Self.run(parts, splitAt: split) == .reset(parameters: ["application_name": ""]), "cut at \(split)")
        }
    }

    @Test func anythingElseFailsTheReset() {
        let error = ErrorResponse(fatal: .protocolViolation, "DISCARD ALL cannot run inside a transaction block")
        guard case .failed(let reason) = Self.run([error.encoded()]) else {
            Issue.record("an error must fail the reset")
            return
        }
        #expect(reason.hasPrefix("DISCARD ALL failed: ") && reason.contains("cannot run inside a transaction block"), "\(reason)")
        #expect(Self.run([Self.idle]) == .failed("the session was not idle after DISCARD ALL"))
        #expect(Self.run([Self.complete, Self.message("Z", [UInt8(ascii: "T")])]) == .failed("the session was not idle after DISCARD ALL"))
        #expect(Self.run([Self.message("C", Array("SELECT 1\0".utf8)), Self.idle]) == .failed("the server did not complete DISCARD ALL"))
        #expect(Self.run([Self.message("D", [0, 0])]) == .failed("unexpected message 'D' during the reset"))
        #expect(Self.run([Self.complete, Self.idle, Self.idle]) == .failed("the server sent more than the answer to DISCARD ALL"))
    }
}

/// A parked session's greeting and the machine's hand-out, byte by byte.
@Suite struct ParkedSessionHandOutTests {
    func message(_ type: Character, _ body: [UInt8]) -> ByteBuffer {
        BackendMessage(type: UInt8(ascii: type.unicodeScalars.first!), body: ByteBuffer(bytes: body)).wireBytes
    }

    static let serverKey = BackendKey(processID: 4242, secretKey: [1, 2, 3, 4])

    @Test func theGreetingIsALoginWithTheCurrentParametersAndTheClientsOwnKey() {
        var session = PostgresLoggedInSession(
            negotiation: message("v", [0, 0, 0, 0, 0, 0, 0, 0]), parameters: [("client_encoding", "UTF8"), ("application_name", "psql")], serverKey: Self.serverKey)
        // A later value replaces the first in place; a new one is added at the end.
        session.report("application_name", "")
        let readable = session.report(parameterStatus: ByteBuffer(string: "TimeZone\0UTC\0"))
        let malformed = session.report(parameterStatus: ByteBuffer(string: "no terminator"))
        #expect(readable && !malformed)
        let clientKey = BackendKey(processID: 4242, secretKey: [9, 9, 9, 9])
        var expected = message("v", [0, 0, 0, 0, 0, 0, 0, 0])
        for part in [
            message("R", [0, 0, 0, 0]), message("S", Array("client_encoding\0UTF8\0".utf8)), message("S", Array("application_name\0\0".utf8)),
            message("S", Array("TimeZone\0UTC\0".utf8)), clientKey.message, message("Z", [UInt8(ascii: "I")]),
        ] { expected.writeImmutableBuffer(part) }
        #expect(session.greeting(clientKey: clientKey) == expected)
    }

    func startedMachine(_ parameters: [(String, String)] = [("user", "app"), ("database", "appdb")]) -> PostgresProxyHandshake {
        var machine = PostgresProxyHandshake(configuration: .init())
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters)
        #expect(machine.clientBytes(&startup) == [.connectUpstream(user: "app")])
        return machine
    }

    @Test func aHandOutRegistersAFreshKeyGreetsAndRelays() throws {
        var machine = startedMachine()
        #expect(machine.sessionKey == PostgresSessionKey(protocolVersion: .init(major: 3, minor: 0), parameters: [("user", "app"), ("database", "appdb")]))
        let session = PostgresLoggedInSession(parameters: [("server_version", "15.8")], serverKey: Self.serverKey)
        let actions = machine.handOut(session)
        guard actions.count == 3, case .registerBackendKey(let server, let client) = actions[0], case .sendToClient(let greeting) = actions[1] else {
            Issue.record("\(actions)")
            return
        }
        #expect(server == Self.serverKey && client.processID == 4242 && client.secretKey.count == 4 && client != Self.serverKey)
        #expect(greeting == session.greeting(clientKey: client))
        #expect(actions[2] == .startRelaying && machine.isRelaying && machine.authenticationMethod == "parked")
        #expect(machine.handOut(session) == [], "once only")
    }

    @Test func replicationAndUnreadStartupsHaveNoKey() {
        #expect(PostgresProxyHandshake(configuration: .init()).sessionKey == nil)
        var machine = PostgresProxyHandshake(configuration: .init(allowReplication: true))
        var startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [("user", "app"), ("replication", "database")])
        _ = machine.clientBytes(&startup)
        #expect(machine.sessionKey == nil)
    }

    @Test func aLoginRemembersWhatItToldTheClientForTheNextOne() {
        var machine = startedMachine()
        _ = machine.upstreamConnected()
        var answer = ByteBuffer(string: "S")
        _ = machine.upstreamBytes(&answer)
        _ = machine.upstreamTLSEstablished()
        _ = machine.tokenReady("TOKEN", wasCached: false)
        var login = message("v", [0, 0, 0, 0, 0, 0, 0, 0])
        for part in [message("R", [0, 0, 0, 0]), message("S", Array("client_encoding\0UTF8\0".utf8)), message("N", Array("SNOTICE\0\0".utf8))] {
            login.writeImmutableBuffer(part)
        }
        #expect(machine.loggedInSession == nil, "not before relaying")
        login.writeImmutableBuffer(Self.serverKey.message)
        login.writeImmutableBuffer(message("Z", [UInt8(ascii: "I")]))
        _ = machine.upstreamBytes(&login)
        let remembered = PostgresLoggedInSession(negotiation: message("v", [0, 0, 0, 0, 0, 0, 0, 0]), parameters: [("client_encoding", "UTF8")], serverKey: Self.serverKey)
        #expect(machine.loggedInSession == remembered)
    }
}

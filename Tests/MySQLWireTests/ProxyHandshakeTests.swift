import NIOCore
import Testing

@testable import MySQLWire

@Suite struct MySQLProxyHandshakeTests {
    static let scramble = Array("abcdefghijklmnopqrst".utf8)

    static func makeMachine(tls: Bool = false, users: Set<String>? = nil, full: Bool = false) -> MySQLProxyHandshake {
        MySQLProxyHandshake(configuration: .init(greeting: Fixtures.mariaDBGreeting, clientTLSAvailable: tls, allowedUsers: users,
                                                 tooManyConnections: full, listenerName: "app"))
    }

    static func clientGreeting(_ actions: [MySQLProxyHandshake.Action]) throws -> PacketFrame {
        guard case .sendToClient(let bytes) = actions.first else { throw MySQLProtocolError("no greeting") }
        return Fixtures.frame(bytes)
    }

    static func errorSent(_ actions: [MySQLProxyHandshake.Action]) -> (PacketFrame, ErrorPacket)? {
        guard case .fail(let failure) = actions.last, let bytes = failure.error else { return nil }
        let frame = Fixtures.frame(bytes)
        let packet = try! ErrorPacket(payload: frame.payload)
        #expect(packet.sqlState == failure.sqlState, "the typed SQLSTATE must be the one on the wire")
        return (frame, packet)
    }

    static func responseBytes(_ response: HandshakeResponse = Fixtures.clientResponse(), sequenceID: UInt8 = 1) -> ByteBuffer {
        var buffer = ByteBuffer()
        PacketFrame(sequenceID: sequenceID, payload: response.encode()).encode(into: &buffer)
        return buffer
    }

    @Test func aClientGreetedWithoutTLSThatHasNotAnsweredIsTheTLSRequiringKind() {
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        #expect(machine.greetedWithoutTLSAndUnanswered)
        var response = Self.responseBytes()
        _ = machine.clientBytes(&response)
        #expect(!machine.greetedWithoutTLSAndUnanswered, "it answered")
        var offered = Self.makeMachine(tls: true)
        _ = offered.start(connectionID: 1, scramble: Self.scramble)
        #expect(!offered.greetedWithoutTLSAndUnanswered, "TLS was on offer")
    }

    /// Drives an upstream login to its end; returns what the client would see.
    static func logIn(_ machine: inout MySQLProxyHandshake, okSequenceID: UInt8 = 3) -> [MySQLProxyHandshake.Action] {
        var greeting = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: Fixtures.mariaDBGreeting.encode()).encode(into: &greeting)
        _ = machine.upstreamBytes(&greeting)
        _ = machine.upstreamTLSEstablished()
        _ = machine.tokenReady("token", wasCached: false)
        var ok = Fixtures.packet([0, 0, 0, 2, 0, 0, 0], sequenceID: okSequenceID)
        return machine.upstreamBytes(&ok)
    }

    @Test func greetsWithTheServersIdentityButOnlyWhatTheProxyCanRelay() throws {
        var machine = Self.makeMachine()
        let frame = try Self.clientGreeting(machine.start(connectionID: 2_000_000_005, scramble: Self.scramble))
        #expect(frame.sequenceID == 0)
        let greeting = try ServerGreeting(payload: frame.payload)
        #expect(greeting.serverVersion == Fixtures.mariaDBGreeting.serverVersion)
        #expect(greeting.connectionID == 2_000_000_005)
        #expect(greeting.scramble == Self.scramble)
        #expect(greeting.authPluginName == "mysql_native_password")
        #expect(greeting.capabilities.isDisjoint(with: CapabilityFlags.neverOffered.union(.ssl)))
        #expect(greeting.capabilities.contains([.deprecateEOF, .mariaDBProgress, .mariaDBCacheMetadata]))

        var withTLS = Self.makeMachine(tls: true)
        let tlsGreeting = try ServerGreeting(payload: Self.clientGreeting(withTLS.start(connectionID: 1, scramble: Self.scramble)).payload)
        #expect(tlsGreeting.capabilities.contains(.ssl))
    }

    @Test func dialsOnlyAfterTheClientAnswersAndPassesItsChoicesOn() {
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var partial = Self.responseBytes()
        var first = partial.readSlice(length: 10)!
        #expect(machine.clientBytes(&first).isEmpty)  // nothing happens before the whole response
        var whole = Self.responseBytes()
        #expect(machine.clientBytes(&whole) == [.connectUpstream(user: "iam_user")])
        #expect(machine.user == "iam_user" && machine.database == "appdb")
        _ = partial
    }

    @Test func forwardsTheServersOKOnTheClientsSequence() {
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var response = Self.responseBytes()
        _ = machine.clientBytes(&response)
        let actions = Self.logIn(&machine)
        #expect(actions == [
            .sendToClient(Fixtures.packet([0, 0, 0, 2, 0, 0, 0], sequenceID: 2)),
            .loggedIn(upstreamConnectionID: 31),
            .startRelaying,
        ])
        #expect(machine.isRelaying)
    }

    /// The stale-DNS guard's answer from MariaDB, with and without CLIENT_DEPRECATE_EOF.
    static func readOnlyAnswer(_ value: String, deprecateEOF: Bool) -> ByteBuffer {
        let column: [UInt8] = [3] + Array("def".utf8) + [0, 0, 0, 4] + Array("@@gl".utf8) + [0, 0x0C, 0x3F, 0, 1, 0, 0, 0, 8, 0x81, 0, 0, 0, 0]
        var packets: [[UInt8]] = [[0x01], column]
        if !deprecateEOF { packets.append([0xFE, 0, 0, 2, 0]) }
        packets.append([1] + Array(value.utf8))
        packets.append(deprecateEOF ? [0xFE, 0, 0, 2, 0, 0, 0] : [0xFE, 0, 0, 2, 0])
        var buffer = ByteBuffer()
        for (index, packet) in packets.enumerated() { buffer.writeImmutableBuffer(Fixtures.packet(packet, sequenceID: UInt8(index + 1))) }
        return buffer
    }

    @Test(arguments: [false, true])
    func aWriterListenerAsksWhetherTheServerIsReadOnlyBeforeTheClientGetsItsOK(deprecateEOF: Bool) {
        var machine = Self.makeMachine()
        machine.configuration.checksWritable = true
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var response = Self.responseBytes()
        _ = machine.clientBytes(&response)
        #expect(Self.logIn(&machine) == [.sendToUpstream(MySQLWritableCheck.request)], "nothing to the client yet")
        var writable = Self.readOnlyAnswer("0", deprecateEOF: deprecateEOF)
        #expect(machine.upstreamBytes(&writable) == [
            .sendToClient(Fixtures.packet([0, 0, 0, 2, 0, 0, 0], sequenceID: 2)), .loggedIn(upstreamConnectionID: 31), .startRelaying,
        ])

        var replica = Self.makeMachine()
        replica.configuration.checksWritable = true
        _ = replica.start(connectionID: 1, scramble: Self.scramble)
        var again = Self.responseBytes()
        _ = replica.clientBytes(&again)
        _ = Self.logIn(&replica)
        var readOnly = Self.readOnlyAnswer("1", deprecateEOF: deprecateEOF)
        let actions = replica.upstreamBytes(&readOnly)
        guard case .retryReadOnly(let user, let failure) = actions.first, actions.count == 1 else {
            Issue.record("\(actions)")
            return
        }
        #expect(user == "iam_user" && failure.reason.contains("stale DNS") && !replica.isRelaying)
    }

    @Test func aReusingListenerWithholdsDeprecateEOFRemembersTheLoginAndHandsItOut() throws {
        var machine = Self.makeMachine()
        machine.configuration.reusesSessions = true
        let greeting = try ServerGreeting(payload: Self.clientGreeting(machine.start(connectionID: 1, scramble: Self.scramble)).payload)
        #expect(!greeting.capabilities.contains(.deprecateEOF), "a response's end must be an EOF the relay can see")
        var response = Self.responseBytes()
        _ = machine.clientBytes(&response)
        #expect(machine.sessionKey?.user == "iam_user" && machine.sessionKey?.database == "appdb")
        _ = Self.logIn(&machine)
        let remembered = MySQLLoggedInSession(ok: ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0]), upstreamConnectionID: 31)
        #expect(machine.loggedInSession == remembered)

        var next = Self.makeMachine()
        _ = next.start(connectionID: 2, scramble: Self.scramble)
        var nextResponse = Self.responseBytes()
        #expect(next.clientBytes(&nextResponse) == [.connectUpstream(user: "iam_user")])
        #expect(next.handOut(remembered) == [
            .sendToClient(Fixtures.packet([0, 0, 0, 2, 0, 0, 0], sequenceID: 2)), .loggedIn(upstreamConnectionID: 31), .startRelaying,
        ])
        #expect(next.isRelaying && next.authenticationMethod == "parked" && next.loggedInSession == nil)
        #expect(next.handOut(remembered) == [], "once only")
    }

    @Test func withClientTLSTheResponseComesAtSequenceTwoAndOKAtThree() {
        var machine = Self.makeMachine(tls: true)
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var sslRequest = ByteBuffer()
        var request = Fixtures.clientResponse()
        request.capabilities.insert(.ssl)
        PacketFrame(sequenceID: 1, payload: request.encodeSSLRequest()).encode(into: &sslRequest)
        #expect(machine.clientBytes(&sslRequest) == [.acceptClientTLS])
        #expect(machine.clientTLSEstablished().isEmpty)
        var response = Self.responseBytes(request, sequenceID: 2)
        #expect(machine.clientBytes(&response) == [.connectUpstream(user: "iam_user")])
        #expect(Self.logIn(&machine).first == .sendToClient(Fixtures.packet([0, 0, 0, 2, 0, 0, 0], sequenceID: 3)))
    }

    @Test func refusesTLSWhenItWasNotOffered() throws {
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var request = Fixtures.clientResponse()
        request.capabilities.insert(.ssl)
        var sslRequest = ByteBuffer()
        PacketFrame(sequenceID: 1, payload: request.encodeSSLRequest()).encode(into: &sslRequest)
        let (frame, error) = try #require(Self.errorSent(machine.clientBytes(&sslRequest)))
        #expect(frame.sequenceID == 2)
        #expect(error.code == 1043 && error.sqlState == "08S01")
    }

    @Test func errorsCarryTheirCodeAfterTheClientsResponse() throws {
        var notAllowed = Self.makeMachine(users: ["app"])
        _ = notAllowed.start(connectionID: 1, scramble: Self.scramble)
        var response = Self.responseBytes()
        let (deniedFrame, denied) = try #require(Self.errorSent(notAllowed.clientBytes(&response)))
        #expect(deniedFrame.sequenceID == 2 && denied.code == 1045 && denied.sqlState == "28000")
        #expect(denied.message.contains("iam_user") && denied.message.contains("app"))

        var full = Self.makeMachine(full: true)
        _ = full.start(connectionID: 1, scramble: Self.scramble)
        response = Self.responseBytes()
        let (_, tooMany) = try #require(Self.errorSent(full.clientBytes(&response)))
        #expect(tooMany.code == 1040 && tooMany.sqlState == "08004")

        var garbage = Self.makeMachine()
        _ = garbage.start(connectionID: 1, scramble: Self.scramble)
        var bytes = Fixtures.packet([1, 2, 3], sequenceID: 1)
        let (_, bad) = try #require(Self.errorSent(garbage.clientBytes(&bytes)))
        #expect(bad.code == 1043 && bad.sqlState == "08S01")

        var unreachable = Self.makeMachine()
        _ = unreachable.start(connectionID: 1, scramble: Self.scramble)
        response = Self.responseBytes()
        _ = unreachable.clientBytes(&response)
        let (_, cannot) = try #require(Self.errorSent(unreachable.upstreamFailed("connection refused", hint: "Is it running?")))
        #expect(cannot.code == 1429 && cannot.message.contains("connection refused. Is it running?"))
    }

    /// A machine that has the client's response and is dialing.
    static func answeredMachine() -> MySQLProxyHandshake {
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var response = Self.responseBytes()
        _ = machine.clientBytes(&response)
        return machine
    }

    /// One upstream login attempt that the server ends with `error`.
    static func attempt(_ machine: inout MySQLProxyHandshake, refusedWith error: ErrorPacket, cached: Bool) -> [MySQLProxyHandshake.Action] {
        var greeting = ByteBuffer()
        PacketFrame(sequenceID: 0, payload: Fixtures.mariaDBGreeting.encode()).encode(into: &greeting)
        _ = machine.upstreamBytes(&greeting)
        _ = machine.upstreamTLSEstablished()
        _ = machine.tokenReady("token", wasCached: cached)
        var packet = ByteBuffer()
        PacketFrame(sequenceID: 3, payload: error.encode()).encode(into: &packet)
        return machine.upstreamBytes(&packet)
    }

    @Test func aRefusedCachedTokenIsRetriedOnceThenReported() throws {
        var machine = Self.answeredMachine()
        let denied = ErrorPacket.accessDenied("Access denied for user 'iam_user'@'localhost' (using password: YES)")
        #expect(Self.attempt(&machine, refusedWith: denied, cached: true).last == .retryWithFreshToken(user: "iam_user"))
        let (frame, reported) = try #require(Self.errorSent(Self.attempt(&machine, refusedWith: denied, cached: true)))
        #expect(frame.sequenceID == 2)
        #expect(reported == denied)
    }

    @Test func aThrottledLoginIsRetriedAsOftenAsTheSessionAllowsAndTooManyConnectionsIsNot() throws {
        #expect(MySQLThrottledLogin.isThrottle(ErrorPacket(code: 1040, sqlState: "HY000", message: "IAM authentication rate limit exceeded")))
        #expect(MySQLThrottledLogin.isThrottle(ErrorPacket(code: 1040, sqlState: "HY000", message: "Connections rate limit exceeded (100)")))
        #expect(!MySQLThrottledLogin.isThrottle(ErrorPacket(code: 1040, sqlState: "08004", message: "Too many connections")))
        var machine = Self.answeredMachine()
        let throttled = ErrorPacket(code: 1040, sqlState: "HY000", message: "IAM authentication rate limit exceeded")
        for _ in 0..<3 {
            let actions = Self.attempt(&machine, refusedWith: throttled, cached: true)
            guard case .retryThrottled(let user, let failure) = actions.last else {
                Issue.record("\(actions)")
                return
            }
            var packet = try #require(failure.error)
            #expect(user == "iam_user" && failure.sqlState == "HY000")
            #expect(PacketFrame.decode(from: &packet)?.sequenceID == 2, "on the client's sequence, ready to send if no retry fits")
        }
    }

    @Test func anOversizedHandshakePacketIsRefusedFromItsHeader() throws {
        // Regression: the proxy waited for a whole 16 MiB first packet per connection.
        var machine = Self.makeMachine()
        _ = machine.start(connectionID: 1, scramble: Self.scramble)
        var header = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 1])
        let (frame, error) = try #require(Self.errorSent(machine.clientBytes(&header)))
        #expect(frame.sequenceID == 2)
        #expect(error.code == 1043 && error.message.contains("16777215-byte handshake packet"))

        var largest = Self.makeMachine()
        _ = largest.start(connectionID: 1, scramble: Self.scramble)
        let limit = MySQLProxyHandshake.maximumHandshakePacketLength - 4
        var atLimit = ByteBuffer(bytes: [UInt8(limit & 0xFF), UInt8(limit >> 8 & 0xFF), UInt8(limit >> 16), 1])
        #expect(largest.clientBytes(&atLimit).isEmpty, "a packet at the limit is awaited")
    }
}

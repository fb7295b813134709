import Foundation
import MySQLWire
import NIOCore
import NIOPosix
import PostgresWire
import Testing

/// Clients that attack the proxy before they are logged in: floods of negotiation requests,
/// oversized packets, repeated parameters, bytes pipelined behind the login. Each gets a
/// specific answer, and a well-behaved client is served afterwards.
@Suite(.needsTestEnvironment, .serialized) struct HostileClientTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func expectPostgresServing(_ proxy: ProxyHarness) throws {
        let psql = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(psql.status == 0 && psql.stdout == "1\n", "the proxy stopped serving: \(psql.stderr)\n\(proxy.logs.text.suffix(2_000))")
    }

    // MARK: PostgreSQL

    @Test func pipelinedNegotiationFloodGetsOneAnswerThen08P01() async throws {
        // Regression: 8,000 pipelined SSLRequests overflowed the event loop's stack (SIGSEGV in
        // a debug build) and every one of them was answered with `N`.
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        for request in [FrontendMessages.sslRequest(), ByteBuffer(bytes: [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30])] {
            var flood = ByteBuffer()
            for _ in 0..<20_000 { flood.writeImmutableBuffer(request) }
            let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [flood], timeout: .seconds(10))
            #expect(answer.closed)
            #expect(answer.bytes.getInteger(at: 0, as: UInt8.self) == UInt8(ascii: "N"))
            var rest = answer.bytes
            rest.moveReaderIndex(forwardBy: 1)
            let error = RawPostgresClient.Answer(bytes: rest, closed: true).error
            #expect(error?.sqlState == "08P01")
            #expect(error?.message.contains("PostgreSQL accepts one SSLRequest and one GSSENCRequest") == true)
        }
        try expectPostgresServing(proxy)
    }

    @Test func repeatedUserCannotSlipPastTheAllowList() async throws {
        // Regression: the first `user` was checked and signed for, PostgreSQL logged in the last.
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "users: [\(env.postgres.iam_user)]")
        defer { proxy.stop() }
        let verdicts = env.verdictLogSize
        let startup = RawPostgresClient.startup(user: env.postgres.iam_user, extra: [("user", env.postgres.iam_other_user)])
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [startup], timeout: .seconds(10))
        #expect(answer.error?.sqlState == "08P01")
        #expect(answer.error?.message.contains("parameter user appears more than once") == true)
        #expect(env.verdicts(after: verdicts).isEmpty, "nothing may reach the server")
        try expectPostgresServing(proxy)
    }

    @Test func replicationNeedsAllowReplication() async throws {
        let startup = RawPostgresClient.startup(user: env.postgres.iam_user, extra: [("replication", "database")])
        let refusing = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { refusing.stop() }
        let refused = try await RawPostgresClient.exchange(port: refusing.port, send: [startup], timeout: .seconds(10))
        #expect(refused.error?.sqlState == "28000")
        #expect(refused.error?.message.contains("replication connections may not use this iam-db-proxy listener") == true)
        // `replication=off` is an ordinary session.
        let ordinary = RawPostgresClient.startup(user: env.postgres.iam_user, extra: [("replication", "off"), ("options", "-c search_path=public")])
        let answer = try await RawPostgresClient.exchange(port: refusing.port, send: [ordinary], until: RawPostgresClient.readyForQuery)
        #expect(answer.messageTypes.last == "Z")

        let allowing = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "allow_replication: true")
        defer { allowing.stop() }
        // The proxy lets it through; the server decides (iam_user has no REPLICATION attribute).
        let passed = try await RawPostgresClient.exchange(port: allowing.port, send: [startup], timeout: .seconds(10))
        #expect(passed.error?.message.contains("iam-db-proxy") == false, "\(passed.error?.message ?? "no error")")
    }

    @Test func queryPipelinedBehindTheStartupIsAnsweredWithoutAnotherPacket() async throws {
        // Regression: the early bytes were passed on after login but not flushed.
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        var bytes = RawPostgresClient.startup(user: env.postgres.iam_user)
        bytes.writeImmutableBuffer(RawPostgresClient.query("SELECT 41 + 1"))
        let twoReady: @Sendable (ByteBuffer) -> Bool = { buffer in
            var copy = buffer
            var ready = 0
            while let message = try? BackendMessage.decode(from: &copy) {
                if message.type == BackendMessage.readyForQuery { ready += 1 }
            }
            return ready >= 2
        }
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [bytes], until: twoReady, timeout: .seconds(10))
        #expect(answer.messageTypes.filter { $0 == "Z" }.count == 2, "got \(answer.messageTypes)")
        #expect(answer.messageTypes.contains("D"))
    }

    // MARK: MySQL

    static func handshakeResponse(user: String) -> ByteBuffer {
        var bytes = ByteBuffer()
        let response = HandshakeResponse(capabilities: [.clientMySQL, .protocol41, .secureConnection, .pluginAuth, .transactions], characterSet: 45,
                                         user: user, authResponse: [], database: nil, authPluginName: "mysql_native_password")
        PacketFrame(sequenceID: 1, payload: response.encode()).encode(into: &bytes)
        return bytes
    }

    /// The MySQL packets in `buffer` (greeting first).
    static func frames(_ buffer: ByteBuffer) -> [PacketFrame] {
        var copy = buffer
        var frames: [PacketFrame] = []
        while let frame = PacketFrame.decode(from: &copy) { frames.append(frame) }
        return frames
    }

    @Test func oversizedMySQLHandshakeHeaderIsRefusedAtOnce() async throws {
        // Regression: the proxy waited for (and buffered) a whole 16 MiB first packet.
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, engine: "mysql")
        defer { proxy.stop() }
        var header = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 1])
        header.writeRepeatingByte(0x41, count: 1_000)
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [header], timeout: .seconds(5))
        #expect(answer.closed, "the proxy must answer at once, not wait for 16 MiB")
        let frames = Self.frames(answer.bytes)
        let error = try frames.last.map { try ErrorPacket(payload: $0.payload) }
        #expect(error?.code == 1043)
        #expect(error?.message.contains("handshake packet is more than iam-db-proxy accepts") == true)
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.status == 0, "the proxy stopped serving: \(result.stderr)")
    }

    @Test func mysqlQueryPipelinedBehindTheHandshakeIsAnswered() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, engine: "mysql")
        defer { proxy.stop() }
        var bytes = Self.handshakeResponse(user: env.mysql.iam_user)
        PacketFrame(sequenceID: 0, payload: ByteBuffer(bytes: [0x03] + Array("SELECT 41 + 1".utf8))).encode(into: &bytes)
        // Greeting, OK, then column count, column, EOF, row, EOF (no DEPRECATE_EOF asked for).
        let resultSetEnded: @Sendable (ByteBuffer) -> Bool = { buffer in
            Self.frames(buffer).contains { $0.sequenceID == 5 && $0.payload.getInteger(at: $0.payload.readerIndex, as: UInt8.self) == 0xFE }
        }
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [bytes], until: resultSetEnded, timeout: .seconds(10))
        let frames = Self.frames(answer.bytes)
        #expect(frames.count == 7, "got \(frames.map(\.sequenceID)) \(proxy.logs.text.suffix(1_000))")
        #expect(frames.contains { String(buffer: $0.payload).contains("42") })
    }

    @Test func killReachesOnlySessionsOfTheSameListenerAndIdsAreNotGuessable() async throws {
        // Regression: the KILL registry was process-wide and ids counted up by one, so a
        // client of one listener could end (or log in to the upstream of) another's sessions.
        let otherPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, engine: "mysql", moreListenersYAML: """
            - name: other
              engine: mysql
              listen: 127.0.0.1:\(otherPort)
              upstream: localhost:\(env.mysql.port)
              iam_region: \(env.region)
              tls: {ca_file: \(env.ca_file)}
            """)
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, pymysql
            def connect(port): return pymysql.connect(host="127.0.0.1", port=port, user=os.environ["USER"], database=os.environ["DB"])
            victim = connect(\(otherPort))
            killer = connect(int(os.environ["PORT"]))
            try:
                killer.cursor().execute("KILL CONNECTION %d" % victim.thread_id())
                print("killed")
            except pymysql.err.OperationalError as error:
                print(error.args[0])
            cursor = victim.cursor(); cursor.execute("SELECT 1"); print("victim alive", cursor.fetchone()[0])
            ids = [connect(int(os.environ["PORT"])).thread_id() for _ in range(4)]
            steps = [b - a for a, b in zip(ids, ids[1:])]
            print("ids random", all(i > 2000000000 for i in ids) and any(abs(step) > 1000 for step in steps))
            """)
        #expect(result.stdout == "1094\nvictim alive 1\nids random True\n", "\(result.stderr)")
    }

    // MARK: Many kinds of hostile first packets, then the proxy is as it was

    static func lengthPrefixed(_ length: UInt32, _ rest: [UInt8] = [0, 3, 0, 0]) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeInteger(length)
        bytes.writeBytes(rest)
        return bytes
    }

    /// Sends `bytes` one a second (the pacing is the point, not a synchronisation); true when
    /// the proxy closed the connection before half of them were sent and within 8 s.
    static func trickleIsCutOff(port: Int, _ bytes: ByteBuffer) async throws -> Bool {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
        let started = ContinuousClock.now
        for byte in bytes.readableBytesView.prefix(bytes.readableBytes / 2) {
            guard channel.isActive else { break }
            try? await channel.writeAndFlush(ByteBuffer(bytes: [byte]))
            try await Task.sleep(for: .seconds(1))
        }
        guard !channel.isActive else {
            try? await channel.close()
            return false
        }
        return ContinuousClock.now - started < .seconds(8)
    }

    @Test func hostilePostgresFirstPacketsEachGet08P01AndLeaveNothingBehind() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "handshake_timeout: 2",
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let admin = AdminHTTPTests.Admin(port: adminPort)
        let manyParameters = (0..<10_000).map { ("p\($0)", "v") }
        let hostile: [(String, ByteBuffer)] = [
            ("length 0", Self.lengthPrefixed(0)), ("length 3", Self.lengthPrefixed(3)),
            ("negative length", Self.lengthPrefixed(0xFFFF_FFFF)), ("length 2^31-1", Self.lengthPrefixed(0x7FFF_FFFF)),
            ("10,000 parameters", RawPostgresClient.startup(user: env.postgres.iam_user, extra: manyParameters)),
            ("1 MB user name", RawPostgresClient.startup(user: String(repeating: "u", count: 1_000_000))),
            ("invalid UTF-8 user", ByteBuffer(bytes: StartupRequestBytes.message([0, 3, 0, 0] + Array("user\0".utf8) + [0xC3, 0x28, 0, 0]))),
            ("protocol 4.0", Self.lengthPrefixed(8, [0, 4, 0, 0])),
        ]
        for (name, bytes) in hostile {
            let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [bytes], timeout: .seconds(10))
            #expect(answer.closed, "\(name): the connection must be closed")
            #expect(answer.error?.sqlState == "08P01", "\(name): \(answer.messageTypes)")
        }
        // A client sending its startup one byte a second is closed at the handshake timeout.
        #expect(try await Self.trickleIsCutOff(port: proxy.port, RawPostgresClient.startup(user: env.postgres.iam_user)))

        let baseline = try #require(try admin.metric("process_open_fds"))
        // 5,000 connections that leave in the middle of their startup message.
        let halfStartup = RawPostgresClient.startup(user: env.postgres.iam_user).getSlice(at: 0, length: 12)!
        let dropped = await ConnectionChurn.run(port: proxy.port, count: 5_000, send: halfStartup, ending: .leaveAtOnce)
        #expect(dropped.failed == 0)
        try expectPostgresServing(proxy)
        let deadline = ContinuousClock.now + .seconds(20)
        while try admin.metric(#"iam_db_proxy_connections_active{listener="pg"}"#) != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try admin.metric("process_open_fds") == baseline, "descriptors must return to their baseline")
    }

    @Test func hostileMySQLFirstPacketsEachGet1043AndLeaveNothingBehind() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "handshake_timeout: 2",
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort)}", engine: "mysql")
        defer { proxy.stop() }
        let admin = AdminHTTPTests.Admin(port: adminPort)
        var sslRequestTwice = ByteBuffer()
        var wrongSequence = Self.handshakeResponse(user: env.mysql.iam_user)
        wrongSequence.setInteger(UInt8(7), at: 3)
        let sslRequest = HandshakeResponse(capabilities: [.clientMySQL, .protocol41, .secureConnection, .ssl], characterSet: 45, user: "")
        PacketFrame(sequenceID: 1, payload: sslRequest.encodeSSLRequest()).encode(into: &sslRequestTwice)
        PacketFrame(sequenceID: 2, payload: sslRequest.encodeSSLRequest()).encode(into: &sslRequestTwice)
        let hostile: [(String, ByteBuffer)] = [
            ("empty packet", ByteBuffer(bytes: [0, 0, 0, 1])),
            ("3-byte packet", ByteBuffer(bytes: [3, 0, 0, 1, 1, 2, 3])),
            ("16 MiB header", ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 1])),
            ("1 MB user name", Self.handshakeResponse(user: String(repeating: "u", count: 1_000_000))),
            ("wrong sequence id", wrongSequence),
            ("SSLRequest without client TLS", sslRequestTwice),
            ("garbage", ByteBuffer(bytes: [12, 0, 0, 1] + Array(repeating: 0xFF, count: 12))),
        ]
        for (name, bytes) in hostile {
            let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [bytes], timeout: .seconds(10))
            #expect(answer.closed, "\(name): the connection must be closed")
            let error = try Self.frames(answer.bytes).dropFirst().last.map { try ErrorPacket(payload: $0.payload) }
            #expect(error?.code == 1043, "\(name): \(String(describing: error))")
        }
        #expect(try await Self.trickleIsCutOff(port: proxy.port, Self.handshakeResponse(user: env.mysql.iam_user)))

        let baseline = try #require(try admin.metric("process_open_fds"))
        let halfResponse = Self.handshakeResponse(user: env.mysql.iam_user).getSlice(at: 0, length: 10)!
        let dropped = await ConnectionChurn.run(port: proxy.port, count: 5_000, send: halfResponse, ending: .leaveAtOnce)
        #expect(dropped.failed == 0)
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.status == 0 && result.stdout == "1\n", "the proxy stopped serving: \(result.stderr)")
        let deadline = ContinuousClock.now + .seconds(20)
        while try admin.metric(#"iam_db_proxy_connections_active{listener="my"}"#) != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try admin.metric("process_open_fds") == baseline, "descriptors must return to their baseline")
    }
}

/// A length-prefixed startup-phase message, for bytes no encoder would write.
enum StartupRequestBytes {
    static func message(_ body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 4)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
    }
}

import Foundation
import NIOCore
import NIOSSL
import PostgresWire
import TestSupport
import Testing

/// Every way a login can go wrong gets a FATAL ErrorResponse with the right SQLSTATE and a
/// message that says what to do, and the proxy goes on serving other clients.
@Suite(.needsTestEnvironment, .serialized) struct PostgresProxyErrorTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func expectStillServing(_ proxy: ProxyHarness, _ user: String? = nil) async throws {
        let answer = try await RawPostgresClient.exchange(
            port: proxy.port, send: [RawPostgresClient.startup(user: user ?? env.postgres.iam_user)], until: RawPostgresClient.readyForQuery)
        #expect(answer.messageTypes.first == "R" && answer.messageTypes.last == "Z", "the proxy stopped serving: \(answer.messageTypes)")
    }

    func startupError(_ proxy: ProxyHarness, user: String? = nil) async throws -> ErrorResponse? {
        try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: user ?? env.postgres.iam_user)]).error
    }

    @Test func userOutsideAllowListGets28000() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "users: [\(env.postgres.iam_user)]")
        defer { proxy.stop() }
        let error = try await startupError(proxy, user: env.postgres.iam_other_user)
        #expect(error?.sqlState == "28000")
        #expect(error?.severity == "FATAL")
        #expect(error?.message.contains(#"user "iam_other" may not connect"#) == true)
        let psql = try proxy.psql(env, user: env.postgres.iam_other_user, ["-c", "SELECT 1"])
        #expect(psql.stderr.contains("may not connect through this iam-db-proxy listener"), "\(psql.stderr)")
        try await expectStillServing(proxy)
    }

    @Test func malformedStartupGets08P01() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        // A startup packet whose parameter list is cut short.
        var bad = ByteBuffer()
        bad.writeMultipleIntegers(Int32(17), Int32(196_608))
        bad.writeString("user\0iam")
        bad.writeInteger(UInt8(0))
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [bad])
        #expect(answer.error?.sqlState == "08P01")
        #expect(answer.closed)
        // An unsupported protocol version, too.
        var old = ByteBuffer()
        old.writeMultipleIntegers(Int32(9), Int32(131_072))
        old.writeInteger(UInt8(0))
        #expect(try await RawPostgresClient.exchange(port: proxy.port, send: [old]).error?.sqlState == "08P01")
        try await expectStillServing(proxy)
    }

    @Test func clientFloodingBeforeLoginGets08P01() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        // Queries may not be sent before the login has finished; 70 KB of them is hostile.
        var flood = ByteBuffer()
        flood.writeRepeatingByte(UInt8(ascii: "Q"), count: 70_000)
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user), flood])
        #expect(answer.error?.sqlState == "08P01", "\(answer.messageTypes)")
        #expect(answer.error?.message.contains("before login finished") == true)
        try await expectStillServing(proxy)
    }

    @Test func negotiationWithoutClientTLS() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        // SSLRequest and GSSENCRequest are both declined with N, then the login proceeds.
        var ssl = ByteBuffer()
        ssl.writeMultipleIntegers(Int32(8), Int32(80_877_103))
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [ssl], until: { $0.readableBytes >= 1 })
        #expect(answer.bytes.getString(at: 0, length: 1) == "N")
        var gss = ByteBuffer()
        gss.writeMultipleIntegers(Int32(8), Int32(80_877_104))
        let both = try await RawPostgresClient.exchange(
            port: proxy.port, send: [gss, RawPostgresClient.startup(user: env.postgres.iam_user)],
            until: { $0.readableBytes > 1 && RawPostgresClient.readyForQuery($0.getSlice(at: $0.readerIndex + 1, length: $0.readableBytes - 1)!) })
        #expect(both.bytes.getString(at: 0, length: 1) == "N")
        #expect(!both.closed, "the login after GSSENCRequest must reach ReadyForQuery")
    }

    /// `sslmode=require` (the usual RDS advice) against a listener without client_tls: psql
    /// gives up after the N with its own generic words; the proxy's log says what to change.
    @Test func aClientThatRequiresTLSIsToldTheFixInTheLog() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let result = try runProcess("/usr/bin/psql", [
            "host=127.0.0.1 port=\(proxy.port) dbname=\(env.postgres.database) user=\(env.postgres.iam_user) sslmode=require", "-Atc", "SELECT 1",
        ])
        #expect(result.status != 0 && result.stderr.contains("server does not support SSL"), "\(result.stderr)")
        #expect(await proxy.logs.waitFor("the client asked for TLS and left when told this listener has none"), "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("sslmode=disable"))
    }

    @Test func unreachableUpstreamGets08001NamingTheHost() async throws {
        let closedPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "")
        defer { proxy.stop() }
        let unreachable = try await ProxyHarness.start(env, identity: env.longTerm, upstream: "127.0.0.1:\(closedPort)")
        defer { unreachable.stop() }
        let error = try await startupError(unreachable)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("cannot connect to 127.0.0.1:\(closedPort)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("connection refused (nothing listens on that port") == true, "in words: \(String(describing: error))")
        let unresolvable = try await ProxyHarness.start(env, identity: env.longTerm, upstream: "no-such-host.invalid:5432")
        defer { unresolvable.stop() }
        let dnsError = try await startupError(unresolvable)
        #expect(dnsError?.sqlState == "08001")
        #expect(dnsError?.message.contains("no-such-host.invalid") == true, "\(String(describing: dnsError))")
        try await expectStillServing(proxy)
    }

    @Test func unknownCertificateAuthorityGets08001WithCAFileHint() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, trustTestCA: false)
        defer { proxy.stop() }
        let error = try await startupError(proxy)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("not signed by a trusted CA") == true, "\(String(describing: error))")
        #expect(error?.fields[UInt8(ascii: "H")]?.contains("ca_file") == true)
    }

    @Test func hostNameMismatchGets08001() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "", serverName: "wrong.example.com")
        defer { proxy.stop() }
        let error = try await startupError(proxy)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("does not match host name wrong.example.com") == true, "\(String(describing: error))")
    }

    @Test func missingCredentialsGet08001WithProviderSummary() async throws {
        let proxy = try await ProxyHarness.start(env, identity: nil)
        defer { proxy.stop() }
        let error = try await startupError(proxy)
        #expect(error?.sqlState == "08001")
        let message = error?.message ?? ""
        #expect(message.contains("no AWS credentials found") && message.contains("environment") && message.contains("imds"), "\(message)")
    }

    @Test func silentClientIsDroppedAfterHandshakeTimeout() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "handshake_timeout: 1")
        defer { proxy.stop() }
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [], timeout: .seconds(10))
        #expect(answer.closed, "the proxy must close a connection that sends nothing")
        #expect(answer.bytes.readableBytes == 0)
    }
}

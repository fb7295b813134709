import Foundation
import Testing

/// The stale-DNS guard against a real streaming-replication pair on two loopback addresses (the
/// primary on 127.0.0.2, a hot standby on 127.0.0.3, one port): a writer listener whose name
/// still points at the standby — as after a failover, until DNS moves — does not hand the client
/// a read-only session; it retries on new connections, each resolving the name afresh
/// (`resolve:` stands in for DNS), and lands on the writer once the name moves.
@Suite(.needsTestEnvironment, .serialized) struct StaleDNSGuardTests {
    let env: TestEnvironment
    static let name = "writer.cluster-test.invalid"

    init() throws { env = try TestEnvironment.load() }

    func pair() async throws -> (primary: TemporaryPostgres, standby: TemporaryPostgres) {
        let port = try await ProxyHarness.freePort()
        let certificate = (env.dir + "/ca/server.pem", env.dir + "/ca/server.key")
        // Trust over TLS: the guard is about where the login lands, not how it is checked.
        let primary = try TemporaryPostgres(port: port, certificate: certificate.0, key: certificate.1, listen: "127.0.0.2", tcpAuthentication: "trust")
        try primary.sql("CREATE ROLE \(env.postgres.iam_user) LOGIN")
        try primary.sql("CREATE DATABASE \(env.postgres.database)")
        let standby = try TemporaryPostgres(port: port, certificate: certificate.0, key: certificate.1, listen: "127.0.0.3", standbyOf: primary)
        return (primary, standby)
    }

    func proxy(pointingAt address: String, port: Int, role: String? = nil, handshakeTimeout: Int = 10) async throws -> ProxyHarness {
        try await ProxyHarness.start(
            env, identity: env.longTerm, listenerYAML: "iam_host: localhost\nhandshake_timeout: \(handshakeTimeout)" + (role.map { "\nrole: \($0)" } ?? ""),
            upstream: "\(Self.name):\(port)", serverName: "localhost", topYAML: "resolve:\n  \(Self.name): \(address)")
    }

    @Test func aWriterListenerLeavesAStandbyAndFindsTheWriterOnceTheNameMoves() async throws {
        let (primary, standby) = try await pair()
        _ = standby
        let proxy = try await proxy(pointingAt: "127.0.0.3", port: primary.port)
        defer { proxy.stop() }
        let client = Task.detached { [env] in try proxy.psql(env, ["-c", "SELECT pg_is_in_recovery(), inet_server_addr()"]) }
        #expect(await proxy.logs.waitFor("logged in to a read-only standby through a writer listener"))
        // DNS moves to the writer, as it does some seconds after a failover.
        let text = try String(contentsOfFile: proxy.configurationFile, encoding: .utf8)
        try text.replacingOccurrences(of: "\(Self.name): 127.0.0.3", with: "\(Self.name): 127.0.0.2")
            .write(toFile: proxy.configurationFile, atomically: true, encoding: .utf8)
        proxy.sendSIGHUP()
        let result = try await client.value
        #expect(result.status == 0, "\(result.stderr)\n\(proxy.logs.text.suffix(2_000))")
        #expect(result.stdout.hasPrefix("f|127.0.0.2"), "the client's session is on the writer: \(result.stdout)")
    }

    @Test func whenTheNameNeverMovesTheClientIsToldWhyAndAReaderListenerMayUseTheStandby() async throws {
        let (primary, standby) = try await pair()
        _ = standby
        let writer = try await proxy(pointingAt: "127.0.0.3", port: primary.port, handshakeTimeout: 1)
        defer { writer.stop() }
        let refused = try writer.psql(env, ["-c", "SELECT 1"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("read-only standby") && refused.stderr.contains("role: reader"), "\(refused.stderr)")

        let reader = try await proxy(pointingAt: "127.0.0.3", port: primary.port, role: "reader")
        defer { reader.stop() }
        let read = try reader.psql(env, ["-c", "SELECT pg_is_in_recovery()"])
        #expect(read.status == 0 && read.stdout == "t\n", "\(read.stderr)")
    }
}

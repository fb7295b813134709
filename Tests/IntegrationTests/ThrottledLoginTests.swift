import Foundation
import Testing

/// A server that throttles IAM logins as AWS documents RDS Proxy doing it
/// (testenv/throttling_pg_server.py: `The IAM authentication failed because of too many
/// competing requests.`, tokens checked by the same independent verifier as the real servers):
/// the proxy retries with a jittered backoff inside the handshake timeout, counts it, and gives
/// the client the server's own error once the timeout leaves no room.
@Suite(.needsTestEnvironment, .serialized) struct ThrottledLoginTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func throttlingServer(throttle: Int) throws -> (LoopbackScript, log: String) {
        let folder = try LoopbackScript.temporaryFolder("throttling-pg-")
        let log = folder + "/logins.jsonl"
        let server = try LoopbackScript("throttling_pg_server.py", [
            env.dir + "/ca/server.pem", env.dir + "/ca/server.key", env.dir + "/verifier.json", "\(throttle)", log,
        ])
        return (server, log)
    }

    func proxy(to server: LoopbackScript, handshakeTimeout: Int = 10, adminPort: Int? = nil) async throws -> ProxyHarness {
        // The token is signed for the real server's name, which the verifier knows, as with an RDS Proxy endpoint's iam_host.
        try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: """
            iam_host: localhost
            iam_default_port: \(env.postgres.port)
            handshake_timeout: \(handshakeTimeout)
            """, upstream: "localhost:\(server.port)", topYAML: adminPort.map { "http: {listen: 127.0.0.1:\($0)}" } ?? "")
    }

    @Test func aThrottledLoginIsRetriedUntilItGetsThrough() async throws {
        let (server, log) = try throttlingServer(throttle: 3)
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await proxy(to: server, adminPort: adminPort)
        defer { proxy.stop() }
        let result = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == env.postgres.iam_user)
        #expect(LoopbackScript.jsonLines(log).map { $0["outcome"] as? String } == ["throttled", "throttled", "throttled", "ok"])
        #expect(proxy.logs.count("the server throttled the login") == 3)
        let admin = AdminHTTPTests.Admin(port: adminPort)
        #expect(try admin.metric("iam_db_proxy_login_throttled_total{listener=\"pg\",outcome=\"retried\"}") == 3)
    }

    @Test func whenTheHandshakeTimeoutLeavesNoRoomTheClientGetsTheServersError() async throws {
        let (server, log) = try throttlingServer(throttle: 1_000)
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await proxy(to: server, handshakeTimeout: 1, adminPort: adminPort)
        defer { proxy.stop() }
        let result = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("too many competing requests"), "\(result.stderr)")
        #expect(LoopbackScript.jsonLines(log).allSatisfy { $0["outcome"] as? String == "throttled" })
        let admin = AdminHTTPTests.Admin(port: adminPort)
        #expect(try admin.metric("iam_db_proxy_login_throttled_total{listener=\"pg\",outcome=\"gave_up\"}") == 1)
        #expect(proxy.logs.text.contains("server throttled the login"))
    }
}

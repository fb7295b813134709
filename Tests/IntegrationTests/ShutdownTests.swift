import CLibPQ
import Foundation
import NIOCore
import PostgresWire
import Testing

/// SIGTERM: the proxy stops accepting, lets open sessions finish within max_sigterm_delay,
/// closes what is left after it, and says so in its exit code and log.
@Suite(.needsTestEnvironment, .serialized) struct ShutdownTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func startQuery(_ port: Int, _ sql: String) throws -> OpaquePointer {
        let connection = try #require(PQconnectdb("host=127.0.0.1 port=\(port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        try #require(PQstatus(connection) == CONNECTION_OK)
        try #require(PQsendQuery(connection, sql) == 1)
        return connection
    }

    @Test func sessionInTheMiddleOfAQuerySurvivesSIGTERM() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "max_sigterm_delay: 20")
        defer { proxy.stop() }
        let connection = try startQuery(proxy.port, "SELECT 'survived' FROM pg_sleep(1)")
        proxy.sendSIGTERM()
        #expect(await proxy.logs.waitFor("shutting down"))
        let result = PQgetResult(connection)
        #expect(PQresultStatus(result) == PGRES_TUPLES_OK)
        #expect(String(decoding: UnsafeRawBufferPointer(start: PQgetvalue(result, 0, 0), count: Int(PQgetlength(result, 0, 0))), as: UTF8.self) == "survived")
        PQclear(result)
        while let rest = PQgetResult(connection) { PQclear(rest) }
        // New connections are refused while draining.
        await #expect(throws: (any Error).self) {
            try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)])
        }
        PQfinish(connection)
        #expect(proxy.waitForExit() == 0, "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("all sessions finished"))
    }

    @Test func sessionsStillOpenAfterTheDelayAreCutAndReported() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "max_sigterm_delay: 1")
        defer { proxy.stop() }
        let connection = try startQuery(proxy.port, "SELECT pg_sleep(30)")
        defer { PQfinish(connection) }
        let started = Date()
        proxy.sendSIGTERM()
        #expect(proxy.waitForExit() != 0)
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(proxy.logs.text.contains("1 session was still open after max_sigterm_delay"), "\(proxy.logs.text)")
    }
}

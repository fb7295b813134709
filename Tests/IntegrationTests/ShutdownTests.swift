import CLibPQ
import Foundation
import NIOCore
import PostgresWire
import Testing

/// SIGTERM: the proxy stops accepting, lets open sessions finish within max_sigterm_delay
/// (25 s unless set), ends what is left after it with the engine's own shutdown error
/// (PostgreSQL 57P01, MySQL 1053) between two server messages, and says so in its exit code and
/// log. A second SIGTERM or SIGINT ends the drain at once.
@Suite(.needsTestEnvironment, .serialized) struct ShutdownTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func startQuery(_ port: Int, _ sql: String) throws -> OpaquePointer {
        let connection = try #require(PQconnectdb("host=127.0.0.1 port=\(port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        try #require(PQstatus(connection) == CONNECTION_OK)
        try #require(PQsendQuery(connection, sql) == 1)
        return connection
    }

    func sqlState(_ result: OpaquePointer?) -> String? {
        PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
    }

    /// With no sigterm settings at all: the default drain lets a query in flight finish.
    @Test func sessionInTheMiddleOfAQuerySurvivesSIGTERM() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, defaultDrain: true)
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

    @Test func sessionsStillOpenAfterTheDelayAreEndedWithAdminShutdownAndReported() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "max_sigterm_delay: 1")
        defer { proxy.stop() }
        let busy = try startQuery(proxy.port, "SELECT pg_sleep(30)")
        defer { PQfinish(busy) }
        let idle = try #require(PQconnectdb("host=127.0.0.1 port=\(proxy.port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        defer { PQfinish(idle) }
        try #require(PQstatus(idle) == CONNECTION_OK)
        let started = Date()
        proxy.sendSIGTERM()
        // The query in flight is answered with FATAL 57P01, as a PostgreSQL fast shutdown does.
        let result = PQgetResult(busy)
        #expect(PQresultStatus(result) == PGRES_FATAL_ERROR)
        #expect(sqlState(result) == "57P01", "\(String(cString: PQerrorMessage(busy)))")
        PQclear(result)
        #expect(proxy.waitForExit() != 0)
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(proxy.logs.text.contains("2 sessions were still open after max_sigterm_delay"), "\(proxy.logs.text)")
        // The idle session finds the same error waiting when it next speaks.
        let late = PQexec(idle, "SELECT 1")
        #expect(String(cString: PQerrorMessage(idle)).contains("terminating connection due to administrator command"),
                "\(String(cString: PQerrorMessage(idle)))")
        PQclear(late)
    }

    @Test func aSecondSIGTERMEndsTheDrainAtOnce() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, defaultDrain: true)
        defer { proxy.stop() }
        let busy = try startQuery(proxy.port, "SELECT pg_sleep(60)")
        defer { PQfinish(busy) }
        let started = Date()
        proxy.sendSIGTERM()
        #expect(await proxy.logs.waitFor("send SIGTERM or SIGINT again to end them now"))
        proxy.sendSIGTERM()
        let result = PQgetResult(busy)
        #expect(sqlState(result) == "57P01", "\(String(cString: PQerrorMessage(busy)))")
        PQclear(result)
        #expect(proxy.waitForExit() != 0)
        #expect(Date().timeIntervalSince(started) < 20, "not the default 25 s drain")
        #expect(proxy.logs.text.contains("asked again to stop; ending open sessions now"), "\(proxy.logs.text)")
    }

    @Test func mysqlCommandInFlightIsAnsweredWithServerShutdown() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "max_sigterm_delay: 1", engine: "mysql")
        defer { proxy.stop() }
        let env = self.env
        let client = Task.detached {
            try proxy.python(env, """
                import os, pymysql
                conn = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"])
                try:
                    conn.cursor().execute("SELECT SLEEP(30)")
                    print("no error")
                except pymysql.err.OperationalError as error:
                    print(error.args[0], error.args[1])
                """)
        }
        #expect(await proxy.logs.waitFor("session logged in"))
        proxy.sendSIGTERM()
        let result = try await client.value
        #expect(result.stdout.hasPrefix("1053 Server shutdown in progress"), "\(result.stdout)\n\(result.stderr)\n\(proxy.logs.text)")
        #expect(proxy.waitForExit() != 0)
    }
}

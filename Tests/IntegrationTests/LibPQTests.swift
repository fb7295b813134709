import CLibPQ
import Foundation
import NIOCore
import PostgresWire
import Testing

/// A program linked against libpq, as applications and drivers are, through the proxy.
@Suite(.needsTestEnvironment, .serialized) struct LibPQTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func connect(_ port: Int) throws -> OpaquePointer { try Self.connect(port: port) }

    /// A libpq connection to the proxy on `port` as iam_user (plaintext), with `extra` conninfo.
    static func connect(port: Int, extra: String = "") throws -> OpaquePointer {
        let connection = try #require(PQconnectdb("host=127.0.0.1 port=\(port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20 \(extra)"))
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            throw HarnessError(description: message)
        }
        return connection
    }

    @Test func queryAndServerSideTLS() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary)
        defer { proxy.stop() }
        let connection = try connect(proxy.port)
        defer { PQfinish(connection) }
        let result = PQexec(connection, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        defer { PQclear(result) }
        #expect(PQresultStatus(result) == PGRES_TUPLES_OK)
        #expect(String(cString: PQgetvalue(result, 0, 0)) == "iam_user")
        #expect(String(cString: PQgetvalue(result, 0, 1)) == "t", "the proxy's leg to the server must be TLS")
    }

    @Test func pqCancelStopsALongQuery() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let connection = try connect(proxy.port)
        defer { PQfinish(connection) }
        // The client's BackendKeyData has the backend's process id (clients compare it with a
        // notification's sender) but a secret of the proxy's own, which the cancel maps back.
        let pid = PQexec(connection, "SELECT pg_backend_pid()")
        #expect(String(cString: PQgetvalue(pid, 0, 0)) == "\(PQbackendPID(connection))")
        PQclear(pid)
        #expect(PQsendQuery(connection, "SELECT pg_sleep(60)") == 1)
        // Wait until the server is running it, seen from a second connection.
        let watcher = try connect(proxy.port)
        defer { PQfinish(watcher) }
        var running = false
        for _ in 0..<200 where !running {
            let check = PQexec(watcher, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")
            running = String(cString: PQgetvalue(check, 0, 0)) == "1"
            PQclear(check)
            if !running { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(running)
        let started = Date()
        let cancel = PQgetCancel(connection)
        var message = [CChar](repeating: 0, count: 256)
        let sent = PQcancel(cancel, &message, 256)
        #expect(sent == 1, "\(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        PQfreeCancel(cancel)
        let result = PQgetResult(connection)
        #expect(PQresultStatus(result) == PGRES_FATAL_ERROR)
        #expect(String(cString: PQresultErrorField(result, Int32(UInt8(ascii: "C")))) == "57014", "query_canceled")
        PQclear(result)
        while let rest = PQgetResult(connection) { PQclear(rest) }
        #expect(Date().timeIntervalSince(started) < 10)
    }
}

extension LibPQTests {
    /// Over `max_connections` a client gets a protocol error it can show (53300), not a reset,
    /// and a slot that frees up is usable again.
    @Test func maxConnectionsAnswers53300() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "max_connections: 1")
        defer { proxy.stop() }
        let first = try connect(proxy.port)
        let refused = try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)])
        #expect(refused.error?.sqlState == "53300")
        #expect(refused.error?.message == "sorry, too many clients already")
        PQfinish(first)
        // The slot is released when the first session's connection closes.
        var again: RawPostgresClient.Answer?
        for _ in 0..<100 {
            let answer = try await RawPostgresClient.exchange(
                port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)], until: RawPostgresClient.readyForQuery)
            if answer.error?.sqlState != "53300" {
                again = answer
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(again?.messageTypes.last == "Z")
    }
}

extension LibPQTests {
    /// `idle_timeout` closes a logged-in session that moves no bytes, and only such a session.
    @Test func idleSessionIsClosedAfterIdleTimeout() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "idle_timeout: 1")
        defer { proxy.stop() }
        let connection = try connect(proxy.port)
        defer { PQfinish(connection) }
        #expect(await proxy.logs.waitFor("connection closed"))
        let result = PQexec(connection, "SELECT 1")
        #expect(PQresultStatus(result) != PGRES_TUPLES_OK, "the idle session must have been closed")
        PQclear(result)
    }
}

import CLibPQ
import Foundation
import Testing

/// Aurora-aware routing against a real streaming-replication pair on two loopback addresses
/// (instance-a on 127.0.0.2 starts as the primary, instance-b on 127.0.0.3 as its hot standby).
/// Each server has an `aurora_replica_status()` reading a small table the test writes as Aurora's
/// control plane would, so every live instance reports the same topology; `resolve:` maps the
/// instance endpoints (`?.instances.test.invalid`) to the addresses, and the cluster endpoint to
/// the *standby*, a stale DNS answer, which the routing must not follow. Logins are IAM: each
/// instance checks tokens through the test environment's verifier, which accepts only tokens
/// signed for that instance's endpoint (or the cluster's), and each presents a certificate for
/// the instance names alone, so TLS checks the name of the host dialed.
@Suite(.needsTestEnvironment, .serialized) struct AuroraTopologyRoutingTests {
    let env: TestEnvironment
    static let cluster = "app.cluster-test.invalid"
    static let pattern = "?.instances.test.invalid"

    init() throws { env = try TestEnvironment.load() }

    static let topologySQL = """
        CREATE TABLE aurora_test_topology (server_id text PRIMARY KEY, is_writer boolean NOT NULL);
        GRANT SELECT ON aurora_test_topology TO PUBLIC;
        INSERT INTO aurora_test_topology VALUES ('instance-a', true), ('instance-b', false);
        CREATE FUNCTION aurora_replica_status() RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz)
            LANGUAGE sql STABLE AS $$
            SELECT server_id, CASE WHEN is_writer THEN 'MASTER_SESSION_ID' ELSE 'replica-' || server_id END, now() FROM aurora_test_topology $$;
        """

    /// `iam`: logins checked by the verifier (PAM), else trust (the failover benchmark, whose
    /// direct client has no token).
    func pair(iam: Bool = true) async throws -> (a: TemporaryPostgres, b: TemporaryPostgres) {
        let port = try await ProxyHarness.freePort()
        let certificate = try TestCertificate.issue(names: ["*.instances.test.invalid", Self.cluster], env: env)
        func authentication(_ instance: String) -> String { iam ? "pam pamservice=iam-db-proxy-testenv-aurora-\(instance)" : "trust" }
        let a = try TemporaryPostgres(port: port, certificate: certificate.certificate, key: certificate.key, listen: "127.0.0.2",
                                      tcpAuthentication: authentication("a"))
        try a.sql("CREATE ROLE \(env.postgres.iam_user) LOGIN")
        try a.sql("CREATE DATABASE \(env.postgres.database)")
        try a.sql(Self.topologySQL)
        let b = try TemporaryPostgres(port: port, certificate: certificate.certificate, key: certificate.key, listen: "127.0.0.3",
                                      tcpAuthentication: authentication("b"), standbyOf: a)
        return (a, b)
    }

    func proxy(port: Int, role: String = "writer", extra: String = "", adminPort: Int? = nil) async throws -> ProxyHarness {
        try await ProxyHarness.start(
            env, identity: env.longTerm,
            listenerYAML: Self.listenerYAML(role: role, monitorUser: env.postgres.iam_user) + extra,
            upstream: "\(Self.cluster):\(port)",
            topYAML: (adminPort.map { "http: {listen: 127.0.0.1:\($0)}\n" } ?? "") + Self.resolveYAML)
    }

    /// A listener that follows the test cluster's topology, reading it every second.
    static func listenerYAML(role: String, monitorUser: String) -> String {
        """
        topology: aurora
        role: \(role)
        instance_host_pattern: "\(pattern)"
        monitor_user: \(monitorUser)
        topology_refresh: 1
        connect_timeout: 5
        """
    }

    /// The instances on their loopback addresses, and the cluster name on the reader's: stale DNS.
    static let resolveYAML = """
        resolve:
          \(cluster): 127.0.0.3
          instance-a.instances.test.invalid: 127.0.0.2
          instance-b.instances.test.invalid: 127.0.0.3
        """

    /// The topology names `writer`, on every live instance.
    func announce(writer: String, on servers: [TemporaryPostgres]) throws {
        for server in servers {
            try server.sql("UPDATE aurora_test_topology SET is_writer = (server_id = '\(writer)')")
        }
    }

    func connect(_ proxy: ProxyHarness) throws -> OpaquePointer {
        let connection = try #require(PQconnectdb("host=127.0.0.1 port=\(proxy.port) dbname=\(env.postgres.database) user=\(env.postgres.iam_user) sslmode=disable connect_timeout=20"))
        try #require(PQstatus(connection) == CONNECTION_OK, "\(String(cString: PQerrorMessage(connection)))\n\(proxy.logs.text.suffix(3_000))")
        return connection
    }

    func value(_ connection: OpaquePointer, _ sql: String) -> String? {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK, PQntuples(result) > 0 else { return nil }
        return String(cString: PQgetvalue(result, 0, 0))
    }

    @Test func writerSessionsGoToTheTopologysWriterAndAreEndedWhenASwitchoverMovesIt() async throws {
        let (a, b) = try await pair()
        let adminPort = try await ProxyHarness.freePort()
        let admin = AdminHTTPTests.Admin(port: adminPort)
        let proxy = try await proxy(port: a.port, adminPort: adminPort)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        let baseline = try #require(try admin.metric("process_open_fds"), "descriptors with the monitoring session open")
        // The cluster name points at the standby; the session still lands on the writer.
        let first = try connect(proxy)
        #expect(value(first, "SELECT host(inet_server_addr()) || ' ' || pg_is_in_recovery()") == "127.0.0.2 false")

        // A switchover: instance-b becomes the writer while instance-a stays up and writable.
        try b.promote()
        try announce(writer: "instance-b", on: [a, b])
        #expect(await proxy.logs.waitFor("writer changed: failover"), "\(proxy.logs.text.suffix(3_000))")
        // The session on the old writer was ended by the proxy (instance-a never went down).
        let late = PQexec(first, "SELECT 1")
        PQclear(late)
        let message = String(cString: PQerrorMessage(first))
        #expect(message.contains("the cluster failed over: instance-a is no longer the writer"), "\(message)")

        let second = try connect(proxy)
        #expect(value(second, "SELECT host(inet_server_addr()) || ' ' || pg_is_in_recovery()") == "127.0.0.3 false")
        #expect(try admin.metric("iam_db_proxy_topology_writer{listener=\"pg\",instance=\"instance-b\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_failover_sessions_ended_total{listener=\"pg\"}") == 1)
        PQfinish(first)
        PQfinish(second)
        // Both sessions gone, the monitor moved to instance-b: the descriptors are what they were.
        let deadline = ContinuousClock.now + .seconds(10)
        while try admin.metric("process_open_fds") != baseline, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try admin.metric("process_open_fds") == baseline)
    }

    @Test func aCrashedWriterIsReplacedAndNewClientsWaitForThePromotedOne() async throws {
        let (a, b) = try await pair()
        let proxy = try await proxy(port: a.port)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        a.stopImmediately()
        #expect(await proxy.logs.waitFor("writer in doubt"), "\(proxy.logs.text.suffix(3_000))")
        // A client arriving during the failover waits (connect_timeout 5 s) instead of failing.
        let client = Task.detached { [env] in
            try proxy.psql(env, ["-c", "SELECT host(inet_server_addr()) || ' ' || pg_is_in_recovery()"])
        }
        try b.promote()
        try announce(writer: "instance-b", on: [b])
        let result = try await client.value
        #expect(result.status == 0 && result.stdout == "127.0.0.3 false\n", "\(result.stderr)\n\(proxy.logs.text.suffix(3_000))")
        #expect(proxy.logs.text.contains("writer changed: failover"))
    }

    @Test func readerSessionsSpreadOverReadersAndFallBackToTheWriter() async throws {
        let (a, b) = try await pair()
        let reader = try await proxy(port: a.port, role: "reader")
        defer { reader.stop() }
        let strict = try await proxy(port: a.port, role: "reader", extra: "\nreader_fallback: fail")
        defer { strict.stop() }
        #expect(await reader.logs.waitFor("topology read"), "\(reader.logs.text.suffix(3_000))")
        #expect(await strict.logs.waitFor("topology read"), "\(strict.logs.text.suffix(3_000))")
        let onReader = try connect(reader)
        defer { PQfinish(onReader) }
        #expect(value(onReader, "SELECT host(inet_server_addr()) || ' ' || pg_is_in_recovery()") == "127.0.0.3 true")
        // With the only reader down, sessions fall back to the writer (reader_fallback: writer)…
        b.stopImmediately()
        let onWriter = try connect(reader)
        defer { PQfinish(onWriter) }
        #expect(value(onWriter, "SELECT host(inet_server_addr())") == "127.0.0.2")

        // …or are refused with the reason (reader_fallback: fail).
        let refused = try strict.psql(env, ["-c", "SELECT 1"])
        #expect(refused.status != 0 && refused.stderr.contains("reader_fallback is fail"), "\(refused.stderr)")
    }

    @Test func aClusterWithoutATopologyKeepsServingThroughItsEndpointAndTheLogSaysWhy() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: """
            topology: aurora
            instance_host_pattern: "\(Self.pattern)"
            monitor_user: \(env.postgres.iam_user)
            """)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("aurora_replica_status() does not exist"), "\(proxy.logs.text.suffix(3_000))")
        #expect(proxy.logs.text.contains("set topology: none if it is not Aurora"))
        let result = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(result.status == 0 && result.stdout == "1\n", "\(result.stderr)")
        #expect(!proxy.logs.text.contains("writer in doubt"), "no writer was ever known: nothing to doubt")
    }

    @Test func aSessionRoutedBeforeAReloadIsStillEndedByALaterFailover() async throws {
        let (a, b) = try await pair()
        let proxy = try await proxy(port: a.port)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        let before = try connect(proxy)
        defer { PQfinish(before) }
        #expect(value(before, "SELECT host(inet_server_addr())") == "127.0.0.2")
        // A reload that changes the listener: new sessions get a new runtime (and monitor).
        let text = try String(contentsOfFile: proxy.configurationFile, encoding: .utf8)
        try text.replacingOccurrences(of: "topology_refresh: 1", with: "topology_refresh: 2")
            .write(toFile: proxy.configurationFile, atomically: true, encoding: .utf8)
        proxy.sendSIGHUP()
        #expect(await proxy.logs.waitFor("configuration reloaded"))
        #expect(await proxy.logs.waitFor("topology read", occurrences: 2), "the new runtime's monitor read the topology")

        try b.promote()
        try announce(writer: "instance-b", on: [a, b])
        #expect(await proxy.logs.waitFor("writer changed: failover", occurrences: 2), "both monitors saw it:\n\(proxy.logs.text.suffix(3_000))")
        let late = PQexec(before, "SELECT 1")
        PQclear(late)
        let message = String(cString: PQerrorMessage(before))
        #expect(message.contains("instance-a is no longer the writer"), "the old runtime's monitor still ended its session: \(message)")
    }
}

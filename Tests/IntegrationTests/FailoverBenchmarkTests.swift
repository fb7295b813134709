import CLibPQ
import Foundation
import Synchronization
import Testing

/// The failover benchmark (`Benchmarks/run-failover.sh` writes its table to
/// `Benchmarks/results/failover.md` from `IAM_DB_PROXY_FAILOVER_REPORT`): one client writes
/// continuously (a new connection after each failure, `connect_timeout=10`) while the primary
/// is killed and the standby promoted — through the proxy's writer listener, and directly through
/// a name whose DNS moves 5 s after the promotion (Aurora's TTL; real clients cache it longer).
/// It reports the time from promotion to the first successful write and the failed writes; the
/// test itself asserts only that writes resume through the proxy.
@Suite(.needsTestEnvironment, .serialized) struct FailoverBenchmarkTests {
    let env: TestEnvironment
    let topology: AuroraTopologyRoutingTests

    init() throws {
        env = try TestEnvironment.load()
        topology = try AuroraTopologyRoutingTests()
    }

    /// What one writer saw around a failover.
    struct Outcome {
        var failed = 0
        var firstSuccessAfterPromotion: Double?
        var writes = 0
    }

    /// Writes until `stop`, each attempt on the connection kept (or a new one to `address()`).
    final class Writer: Sendable {
        let outcome = Mutex(Outcome())
        let promotedAt = Mutex<Date?>(nil)
        let stopped = Atomic(false)

        func run(conninfo: @escaping @Sendable () -> String) -> Thread {
            let thread = Thread { [self] in
                var connection: OpaquePointer?
                while !stopped.load(ordering: .relaxed) {
                    if connection == nil || PQstatus(connection) != CONNECTION_OK {
                        if let connection { PQfinish(connection) }
                        connection = PQconnectdb(conninfo())
                    }
                    let result = PQexec(connection, "INSERT INTO failover_bench DEFAULT VALUES")
                    let ok = PQresultStatus(result) == PGRES_COMMAND_OK
                    PQclear(result)
                    let now = Date()
                    let promoted = promotedAt.withLock { $0 }
                    outcome.withLock { outcome in
                        if ok {
                            outcome.writes += 1
                            if let promoted, outcome.firstSuccessAfterPromotion == nil, outcome.failed > 0 {
                                outcome.firstSuccessAfterPromotion = now.timeIntervalSince(promoted)
                            }
                        } else {
                            outcome.failed += 1
                        }
                    }
                    if !ok {
                        PQfinish(connection)
                        connection = nil
                        Thread.sleep(forTimeInterval: 0.02)
                    }
                }
                if let connection { PQfinish(connection) }
            }
            thread.start()
            return thread
        }
    }

    func prepare() async throws -> (a: TemporaryPostgres, b: TemporaryPostgres) {
        let (a, b) = try await topology.pair(iam: false)
        try a.psql(database: env.postgres.database, """
            CREATE TABLE failover_bench (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
            GRANT INSERT ON failover_bench TO \(env.postgres.iam_user); GRANT USAGE ON SEQUENCE failover_bench_id_seq TO \(env.postgres.iam_user);
            """)
        // The standby has replayed it before the clock starts.
        for _ in 0..<100 where (try? b.psql(database: env.postgres.database, "SELECT 1 FROM failover_bench LIMIT 0")) == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        return (a, b)
    }

    func failOver(_ a: TemporaryPostgres, _ b: TemporaryPostgres, writer: Writer) async throws {
        try await Task.sleep(for: .seconds(1))
        a.stopImmediately()
        writer.promotedAt.withLock { $0 = Date() }
        try b.promote()
        try topology.announce(writer: "instance-b", on: [b])
        for _ in 0..<300 where writer.outcome.withLock({ $0.firstSuccessAfterPromotion }) == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(1))
        writer.stopped.store(true, ordering: .relaxed)
    }

    @Test func writesResumeThroughTheProxySoonAfterPromotion() async throws {
        let conninfo = "dbname=\(env.postgres.database) user=\(env.postgres.iam_user) connect_timeout=10"
        // Through the proxy.
        let (a, b) = try await prepare()
        let proxy = try await topology.proxy(port: a.port, extra: "\nhandshake_timeout: 10")
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        let viaProxy = Writer()
        _ = viaProxy.run { "host=127.0.0.1 port=\(proxy.port) sslmode=disable \(conninfo)" }
        try await failOver(a, b, writer: viaProxy)
        let proxied = viaProxy.outcome.withLock { $0 }
        #expect(proxied.firstSuccessAfterPromotion != nil, "\(proxy.logs.text.suffix(3_000))")

        // Directly, through a name that moves 5 s after the promotion.
        let (c, d) = try await prepare()
        let direct = Writer()
        let port = c.port
        _ = direct.run {
            let moved = direct.promotedAt.withLock { $0 }.map { Date().timeIntervalSince($0) >= 5 } ?? false
            return "host=localhost hostaddr=\(moved ? "127.0.0.3" : "127.0.0.2") port=\(port) sslmode=require \(conninfo)"
        }
        try await failOver(c, d, writer: direct)
        let unproxied = direct.outcome.withLock { $0 }

        func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "never" }
        let report = """
            | client | promotion → first write | failed writes | writes |
            |---|---|---|---|
            | through iam-db-proxy (topology: aurora, writer listener) | \(seconds(proxied.firstSuccessAfterPromotion)) | \(proxied.failed) | \(proxied.writes) |
            | direct, name moved 5 s after promotion | \(seconds(unproxied.firstSuccessAfterPromotion)) | \(unproxied.failed) | \(unproxied.writes) |
            """
        print(report)
        if let path = ProcessInfo.processInfo.environment["IAM_DB_PROXY_FAILOVER_REPORT"] {
            try (report + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

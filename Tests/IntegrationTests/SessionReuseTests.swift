import CLibPQ
import Foundation
import Glibc
import TestSupport
import Testing

/// `session_reuse: mode: reuse` against the real PostgreSQL server, through libpq as
/// applications use it: a client that ends cleanly leaves its backend reset and parked, the next
/// client with the same startup lands on that same backend (`pg_backend_pid()`) and sees
/// nothing of the first; a backend whose client left mid-transaction, mid-COPY, in a failed
/// transaction or without Terminate is never handed out again; an old cancel key reaches nothing.
@Suite(.needsTestEnvironment, .serialized) struct SessionReuseTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    static let parked = "upstream session parked"
    static let notReused = "upstream session not reused"

    /// Parked sessions wait on their own event loop and go to clients accepted on it; with one
    /// loop the next client always finds the last one's backend (`loopPerCore`: one per core).
    func startProxy(_ reuse: String = "", mode: String = "reuse", loopPerCore: Bool = false, topYAML: String = "") async throws -> ProxyHarness {
        try await ProxyHarness.start(env, identity: env.longTerm,
                                     extraEnvironment: ["IAM_DB_PROXY_LOG_LEVEL": "debug",
                                                        "IAM_DB_PROXY_EVENT_LOOPS": "\(loopPerCore ? ProcessInfo.processInfo.activeProcessorCount : 1)"],
                                     listenerYAML: "session_reuse:\n  mode: \(mode)\n" + reuse.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"),
                                     topYAML: topYAML)
    }

    /// A libpq connection through the proxy; every connection of a test has the same startup (the same key) unless `extra` differs.
    func connect(_ proxy: ProxyHarness, extra: String = "") throws -> OpaquePointer { try LibPQTests.connect(port: proxy.port, extra: extra) }

    /// The first value of the first row; records the error when the statement failed.
    @discardableResult
    func value(_ connection: OpaquePointer, _ sql: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            Issue.record("\(sql): \(String(cString: PQresultErrorMessage(result)))", sourceLocation: sourceLocation)
            return ""
        }
        return status == PGRES_TUPLES_OK && PQntuples(result) > 0 ? String(cString: PQgetvalue(result, 0, 0)) : ""
    }

    func backendPID(_ connection: OpaquePointer) -> String { value(connection, "SELECT pg_backend_pid()") }

    @Test func theNextClientGetsTheSameBackendWithNothingOfThePrevious() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let admin = AdminHTTPTests.Admin(port: adminPort)
        let proxy = try await startProxy(topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let first = try connect(proxy)
        let pid = backendPID(first)
        #expect("\(PQbackendPID(first))" == pid)
        value(first, "SET search_path TO pg_catalog")
        value(first, "SET statement_timeout TO '7s'")
        value(first, "SET application_name TO 'first client'")
        value(first, "CREATE TEMP TABLE leftover(x int)")
        value(first, "PREPARE leftover_sql AS SELECT 1")
        let prepared = PQprepare(first, "leftover_protocol", "SELECT 2", 0, nil)
        #expect(PQresultStatus(prepared) == PGRES_COMMAND_OK)
        PQclear(prepared)
        value(first, "LISTEN leftover_channel")
        value(first, "SELECT pg_advisory_lock(4242)")
        value(first, "SET ROLE pg_monitor")
        #expect(value(first, "SELECT current_user") == "pg_monitor")
        PQfinish(first)
        #expect(await proxy.logs.waitFor(Self.parked))

        let second = try connect(proxy)
        defer { PQfinish(second) }
        #expect(backendPID(second) == pid, "the second client must land on the first one's backend")
        #expect("\(PQbackendPID(second))" == pid)
        #expect(value(second, "SELECT current_user") == "iam_user")
        #expect(value(second, "SHOW search_path") == "\"$user\", public")
        #expect(value(second, "SHOW statement_timeout") == "0")
        #expect(value(second, "SHOW application_name") == "")
        #expect(String(cString: PQparameterStatus(second, "application_name")) == "", "the greeting carries the reset values")
        #expect(value(second, "SELECT count(*) FROM pg_class WHERE relname = 'leftover'") == "0")
        #expect(value(second, "SELECT count(*) FROM pg_prepared_statements") == "0")
        #expect(value(second, "SELECT count(*) FROM pg_listening_channels()") == "0")
        #expect(value(second, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0")
        #expect(proxy.logs.text.contains("auth=parked"), "each client still has its own login line")
        #expect(try admin.metric("iam_db_proxy_session_reuse_handouts_total{listener=\"pg\",source=\"parked\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_session_reuse_handouts_total{listener=\"pg\",source=\"login\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_session_reuse_resets_total{listener=\"pg\",result=\"ok\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_session_reuse_parked{listener=\"pg\"}") == 0, "the session is in use")
    }

    /// Each way a client can leave a backend in a state no reset may be trusted with.
    enum Ending: String, CaseIterable, CustomTestStringConvertible {
        case openTransaction, failedTransaction, openCopy, noTerminate, killedMidCopy

        var testDescription: String { rawValue }

        var reason: String {
            switch self {
            case .openTransaction: "a transaction was open"
            case .failedTransaction: "a failed transaction was open"
            case .openCopy: "a COPY was open"
            case .noTerminate, .killedMidCopy: "the session ended without the client's goodbye (Terminate, COM_QUIT)"
            }
        }
    }

    @Test(arguments: Ending.allCases)
    func aBackendLeftInAnUnsafeStateIsNeverHandedOut(_ ending: Ending) async throws {
        let proxy = try await startProxy()
        defer { proxy.stop() }
        let first = try connect(proxy)
        let pid = backendPID(first)
        switch ending {
        case .openTransaction:
            value(first, "BEGIN")
            value(first, "CREATE TEMP TABLE inside_transaction(x int)")
        case .failedTransaction:
            value(first, "BEGIN")
            PQclear(PQexec(first, "SELECT 1/0"))
        case .openCopy:
            value(first, "CREATE TEMP TABLE copied(x int)")
            let copy = PQexec(first, "COPY copied FROM STDIN")
            #expect(PQresultStatus(copy) == PGRES_COPY_IN)
            PQclear(copy)
            #expect(PQputCopyData(first, "1\n", 2) == 1)
        case .noTerminate:
            // The client's process dies inside a transaction: its socket closes with no Terminate sent.
            value(first, "SET search_path TO pg_catalog")
            value(first, "BEGIN")
            shutdown(PQsocket(first), Int32(SHUT_RDWR))
        case .killedMidCopy:
            value(first, "CREATE TEMP TABLE copied(x int)")
            let copy = PQexec(first, "COPY copied FROM STDIN")
            #expect(PQresultStatus(copy) == PGRES_COPY_IN)
            PQclear(copy)
            #expect(PQputCopyData(first, "1\n", 2) == 1)
            shutdown(PQsocket(first), Int32(SHUT_RDWR))
        }
        PQfinish(first)
        #expect(await proxy.logs.waitFor(ending.reason))
        #expect(proxy.logs.text.contains(Self.notReused))
        #expect(proxy.logs.count(Self.parked) == 0)
        let second = try connect(proxy)
        defer { PQfinish(second) }
        #expect(backendPID(second) != pid)
        #expect(value(second, "SHOW search_path") == "\"$user\", public")
    }

    @Test func aCancelWithThePreviousClientsKeyReachesNothing() async throws {
        let proxy = try await startProxy()
        defer { proxy.stop() }
        let first = try connect(proxy)
        let pid = backendPID(first)
        let oldCancel = try #require(PQgetCancel(first))
        defer { PQfreeCancel(oldCancel) }
        PQfinish(first)
        #expect(await proxy.logs.waitFor(Self.parked))

        let second = try connect(proxy)
        defer { PQfinish(second) }
        #expect(backendPID(second) == pid)
        #expect(PQsendQuery(second, "SELECT pg_sleep(60)") == 1)
        var message = [CChar](repeating: 0, count: 256)
        #expect(PQcancel(oldCancel, &message, 256) == 1)
        #expect(await proxy.logs.waitFor("cancel request for an unknown session ignored"))
        // The query still runs: the second client's own key cancels it (so the test could tell).
        let newCancel = try #require(PQgetCancel(second))
        defer { PQfreeCancel(newCancel) }
        #expect(PQcancel(newCancel, &message, 256) == 1)
        let result = PQgetResult(second)
        #expect(String(cString: PQresultErrorField(result, Int32(UInt8(ascii: "C")))) == "57014")
        PQclear(result)
        while let rest = PQgetResult(second) { PQclear(rest) }
    }

    @Test func maxUsesEndsABackendAfterItsLastClient() async throws {
        let proxy = try await startProxy("max_uses: 2")
        defer { proxy.stop() }
        let first = try connect(proxy)
        let pid = backendPID(first)
        PQfinish(first)
        #expect(await proxy.logs.waitFor(Self.parked))
        let second = try connect(proxy)
        #expect(backendPID(second) == pid)
        PQfinish(second)
        #expect(await proxy.logs.waitFor("max_uses"))
        let third = try connect(proxy)
        defer { PQfinish(third) }
        #expect(backendPID(third) != pid)
    }

    @Test func aParkedBackendTheServerEndsIsDroppedBeforeHandOut() async throws {
        let proxy = try await startProxy()
        defer { proxy.stop() }
        let first = try connect(proxy)
        let pid = backendPID(first)
        PQfinish(first)
        #expect(await proxy.logs.waitFor(Self.parked))
        // Another key (application_name), so this session does not take the parked one.
        let admin = try connect(proxy, extra: "application_name=admin")
        defer { PQfinish(admin) }
        #expect(backendPID(admin) != pid)
        #expect(value(admin, "SELECT pg_terminate_backend(\(pid))") == "t")
        #expect(await proxy.logs.waitFor("server_closed"))
        let second = try connect(proxy)
        defer { PQfinish(second) }
        #expect(backendPID(second) != pid)
        #expect(value(second, "SELECT 1") == "1")
    }

    @Test func withALoopPerCoreClientsOneAfterAnotherReuseOneBackendPerLoop() async throws {
        let proxy = try await startProxy(loopPerCore: true)
        defer { proxy.stop() }
        var pids: Set<String> = []
        for round in 1...12 {
            let connection = try connect(proxy)
            pids.insert(backendPID(connection))
            PQfinish(connection)
            #expect(await proxy.logs.waitFor(Self.parked, occurrences: round))
        }
        #expect(pids.count <= ProcessInfo.processInfo.activeProcessorCount, "\(pids.count) backends for 12 clients")
        #expect(proxy.logs.count("handing out a parked session") >= 12 - ProcessInfo.processInfo.activeProcessorCount)
    }

    @Test func differentStartupParametersNeverShareABackend() async throws {
        let proxy = try await startProxy()
        defer { proxy.stop() }
        let first = try connect(proxy, extra: "options='-c search_path=pg_catalog'")
        let pid = backendPID(first)
        PQfinish(first)
        #expect(await proxy.logs.waitFor(Self.parked))
        let other = try connect(proxy)
        defer { PQfinish(other) }
        #expect(backendPID(other) != pid)
        #expect(value(other, "SHOW search_path") == "\"$user\", public")
        let same = try connect(proxy, extra: "options='-c search_path=pg_catalog'")
        defer { PQfinish(same) }
        #expect(backendPID(same) == pid)
        #expect(value(same, "SHOW search_path") == "pg_catalog", "the reset keeps what the startup set")
    }

    @Test func aBurstOfConnectionsPerTransactionFailsNothingAndLeavesNoDescriptorBehind() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let admin = AdminHTTPTests.Admin(port: adminPort)
        // A loop per core, warm sessions too, and a short idle timeout so the pool empties itself.
        let proxy = try await startProxy("min_idle: 2\nidle_timeout: 1", loopPerCore: true, topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let baseline = try #require(try admin.metric("process_open_fds"))
        let script = NSTemporaryDirectory() + "select-\(UUID().uuidString).sql"
        // Each client leaves its session dirty; one that finds another's setting divides by zero and fails the run.
        try """
            SELECT (current_setting('search_path') = '"$user", public')::int AS clean \\gset
            \\if :clean = 0
            SELECT 1 / 0;
            \\endif
            SET search_path TO pg_catalog;

            """.write(toFile: script, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(["PGHOST": "127.0.0.1", "PGPORT": "\(proxy.port)", "PGUSER": env.postgres.iam_user, "PGDATABASE": env.postgres.database,
                           "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "20"]) { $1 }
        let bench = try runProcess("/usr/bin/pgbench", ["-n", "-C", "-f", script, "-c", "8", "-j", "2", "-t", "150"], environment: environment)
        #expect(bench.status == 0 && bench.stdout.contains("number of failed transactions: 0"), "\(bench.stdout)\n\(bench.stderr)")
        #expect(try admin.metric("iam_db_proxy_session_reuse_handouts_total{listener=\"pg\",source=\"parked\"}") ?? 0 > 600,
                "most of 1,200 connections got a parked session")
        // Used sessions wait idle_timeout and go; the warm ones (min_idle) are logged in again behind them and stay.
        func settled() throws -> Bool {
            let parked = try admin.metric("iam_db_proxy_session_reuse_parked{listener=\"pg\"}") ?? -1
            return try parked == admin.metric("iam_db_proxy_session_reuse_warm{listener=\"pg\"}") && parked <= 2
                && admin.metric("process_open_fds") == baseline + parked
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try !settled(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let metrics = try admin.get("/metrics").body.split(separator: "\n").filter { $0.contains("reuse_parked") || $0.contains("reuse_warm") || $0.contains("open_fds") }
        #expect(try settled(), "descriptors back to the baseline plus the warm sessions: \(metrics)")
    }

    // MARK: Warm sessions

    @Test func warmSessionsAreLoggedInAheadForAKeySeenAndEachServesOneClient() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let admin = AdminHTTPTests.Admin(port: adminPort)
        let proxy = try await startProxy("min_idle: 2\nready_min_idle: 1", mode: "warm", topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let notReady = try admin.get("/readiness")
        #expect(notReady.status == 503 && notReady.body.contains("has 0 of its ready_min_idle 1 warm sessions"), "\(notReady)")
        let first = try connect(proxy)
        let firstPID = backendPID(first)
        #expect(await proxy.logs.waitFor(Self.parked, occurrences: 2), "min_idle 2 for the key just seen")
        #expect(try admin.get("/readiness").status == 200)
        let beforeSecond = value(first, "SELECT clock_timestamp()")
        PQfinish(first)

        let second = try connect(proxy)
        defer { PQfinish(second) }
        let secondPID = backendPID(second)
        #expect(secondPID != firstPID, "warm mode never hands a used session on")
        #expect(value(second, "SELECT backend_start < '\(beforeSecond)'::timestamptz FROM pg_stat_activity WHERE pid = pg_backend_pid()") == "t",
                "the second client's backend was logged in before it connected")
        #expect(await proxy.logs.waitFor(Self.parked, occurrences: 3), "the pool refills behind the hand-out")
        #expect(try admin.metric("iam_db_proxy_session_reuse_handouts_total{listener=\"pg\",source=\"warm\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_session_reuse_handouts_total{listener=\"pg\",source=\"login\"}") == 1)
        #expect(try admin.metric("iam_db_proxy_session_reuse_parked{listener=\"pg\"}") == 2)
        #expect(try admin.metric("iam_db_proxy_session_reuse_warm{listener=\"pg\"}") == 2)
    }

    @Test func aWarmLoginTheServerRefusesIsLoggedAndHeldBackNotRetriedInALoop() async throws {
        let proxy = try await startProxy("min_idle: 3", mode: "warm")
        defer { proxy.stop() }
        let refused = PQconnectdb("host=127.0.0.1 port=\(proxy.port) dbname=no_such_database user=iam_user sslmode=disable connect_timeout=20")
        #expect(PQstatus(refused) != CONNECTION_OK)
        #expect(String(cString: PQerrorMessage(refused)).contains("no_such_database"))
        PQfinish(refused)
        #expect(await proxy.logs.waitFor("could not log in a warm session", occurrences: 3))
        // Another client of the same key within the back-off starts no new warm login.
        let again = PQconnectdb("host=127.0.0.1 port=\(proxy.port) dbname=no_such_database user=iam_user sslmode=disable connect_timeout=20")
        PQfinish(again)
        let working = try connect(proxy)
        defer { PQfinish(working) }
        #expect(value(working, "SELECT 1") == "1")
        #expect(proxy.logs.count("could not log in a warm session") == 3)
    }
}

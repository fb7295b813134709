import TestSupport
import Foundation
import NIOCore
import PostgresWire
import Testing

/// The PostgreSQL proxy end to end: real psql / pgbench (libpq) through the proxy to the local
/// RDS-like server, whose PAM verifier checks every token independently.
@Suite(.needsTestEnvironment, .serialized) struct PostgresProxyTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test func psqlLogsInWithoutPasswordOverTLSUpstream() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary)
        defer { proxy.stop() }
        let before = env.verdictLogSize
        let result = try proxy.psql(env, ["-c", "SELECT current_user, ssl, current_setting('application_name') FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "iam_user|t|psql")
        // A dummy password from the client is ignored.
        let withPassword = try proxy.psql(env, password: "anything", ["-c", "SELECT 1"])
        #expect(withPassword.status == 0, "\(withPassword.stderr)")
        #expect(env.tokenFingerprints(after: before).count == 1, "both logins must reuse one token")
        #expect(!proxy.logs.text.contains("X-Amz-Signature"), "a token reached the log")
        #expect(!proxy.logs.text.contains(env.temporary.secret_access_key))
    }

    /// As a container's numeric user (not root) runs it: TCP_NODELAY was once set as a socket-
    /// level option, which is SO_DEBUG there, refused to non-root users, so every session was closed at accept.
    @Test func aProxyRunAsANonRootUserServesSessions() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary, unprivileged: true)
        defer { proxy.stop() }
        let result = try proxy.psql(env, ["-c", "SELECT current_user"])
        #expect(result.status == 0, "\(result.stderr)\n\(proxy.logs.text)")
        #expect(result.stdout == "iam_user\n")
    }

    /// The relay's message observer on a real session, at trace level: the client's Query and
    /// Terminate, and the transaction status of the server's last ReadyForQuery (in a
    /// transaction, as psql left it).
    @Test func traceLevelWireSummaryCountsMessagesAndTheTransactionStatus() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary, extraEnvironment: ["IAM_DB_PROXY_LOG_LEVEL": "trace"])
        defer { proxy.stop() }
        let result = try proxy.psql(env, ["-c", "BEGIN; SELECT 1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(await proxy.logs.waitFor("wire summary"), "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("client=Q=1,X=1 "), "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains(",status=T "), "\(proxy.logs.text)")
    }

    @Test func startupParametersReachTheServer() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let result = try proxy.psql(env, options: "application_name=billing options='-c search_path=custom,public'",
                                    ["-c", "SELECT current_setting('application_name') || ' ' || current_setting('search_path')"])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "billing custom,public", "\(result.stderr)")
    }

    /// A protocol 3.2 client against a 3.0 server: the server's NegotiateProtocolVersion reaches
    /// the client, before AuthenticationOk, and the client never sees a password request.
    @Test func protocol32ClientGetsNegotiateProtocolVersion() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let answer = try await RawPostgresClient.exchange(
            port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user, version: (3, 2))], until: RawPostgresClient.readyForQuery)
        #expect(Array(answer.messageTypes.prefix(2)) == ["v", "R"], "\(answer.messageTypes)")
        #expect(answer.messageTypes.filter { $0 == "R" }.count == 1, "only AuthenticationOk, no password request")
        #expect(answer.messageTypes.contains("K") && answer.messageTypes.last == "Z")
    }

    @Test func pgbenchRunsWithoutFailures() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["PGSSLMODE"] = "disable"
        let common = ["-h", "127.0.0.1", "-p", String(proxy.port), "-U", env.postgres.iam_user]
        let initialise = try runProcess("/usr/bin/pgbench", ["-i", "-s", "1", "-q"] + common + [env.postgres.database], environment: environment)
        #expect(initialise.status == 0, "\(initialise.stderr)")
        let run = try runProcess("/usr/bin/pgbench", ["-c", "8", "-j", "2", "-T", "10"] + common + [env.postgres.database], environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("number of failed transactions: 0 (0.000%)"), "\(run.stdout)")
        let processed = run.stdout.split(separator: "\n").first { $0.hasPrefix("number of transactions actually processed") }
        #expect(processed.map { !$0.hasSuffix(": 0") } == true)
    }

    @Test func twoHundredConcurrentConnectionsSignOneToken() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary)
        defer { proxy.stop() }
        let before = env.verdictLogSize
        var environment = ProcessInfo.processInfo.environment
        environment["PGSSLMODE"] = "disable"
        let run = try runProcess("/usr/bin/pgbench", [
            "-n", "-S", "-c", "200", "-j", "2", "-t", "1", "-h", "127.0.0.1", "-p", String(proxy.port), "-U", env.postgres.iam_user, env.postgres.database,
        ], environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("number of clients: 200"))
        #expect(env.tokenFingerprints(after: before).count == 1, "200 logins must share one token")
    }

    @Test func copyHundredMegabytesRoundTrips() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let folder = NSTemporaryDirectory() + "copy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let generate = "COPY (SELECT i, md5(i::text) || repeat('x', 980) FROM generate_series(1, 100000) AS i) TO STDOUT"
        #expect(try proxy.psql(env, ["-c", "DROP TABLE IF EXISTS copy_check", "-c", "CREATE TABLE copy_check (i int, payload text)"]).status == 0)
        let out = try proxy.psql(env, ["-o", "\(folder)/out.tsv", "-c", generate])
        #expect(out.status == 0, "\(out.stderr)")
        let copyIn = try proxy.psql(env, ["-c", "\\copy copy_check FROM '\(folder)/out.tsv'"])
        #expect(copyIn.status == 0, "\(copyIn.stderr)")
        let back = try proxy.psql(env, ["-o", "\(folder)/back.tsv", "-c", "COPY (SELECT * FROM copy_check ORDER BY i) TO STDOUT"])
        #expect(back.status == 0, "\(back.stderr)")
        let size = try FileManager.default.attributesOfItem(atPath: "\(folder)/out.tsv")[.size] as? Int ?? 0
        #expect(size > 100_000_000)
        let sums = try runProcess("/usr/bin/md5sum", ["\(folder)/out.tsv", "\(folder)/back.tsv"]).stdout.split(separator: "\n").map { $0.prefix(32) }
        #expect(sums.count == 2 && sums[0] == sums[1])
    }

    @Test func psqlCancelStopsTheQueryOnTheServer() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: signalResettingLauncher[0])
        process.arguments = Array(signalResettingLauncher.dropFirst()) + ["/usr/bin/psql", "host=127.0.0.1 port=\(proxy.port) dbname=appdb user=iam_user sslmode=disable", "-XAtc", "SELECT pg_sleep(60)"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        // Wait until the server runs the query, then Ctrl-C psql, which sends a CancelRequest.
        var running = false
        for _ in 0..<100 where !running {
            let check = try proxy.psql(env, ["-c", "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'"])
            running = check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            if !running { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(running)
        process.interrupt()
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("canceling statement due to user request"), "\(message)")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    /// The server stops accepting the cached token (as when credentials are rotated or revoked):
    /// the proxy drops the token and the credentials, signs afresh and the client never notices.
    @Test func cachedTokenRefusedIsRetriedOnceInvisibly() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: nil, extraEnvironment: try RotatingCredentials.environment(env),
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        func retries() throws -> String? {
            try runProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(adminPort)/metrics"]).stdout.split(separator: "\n")
                .first { $0.hasPrefix(#"iam_db_proxy_token_retries_total{listener="pg"} "#) }.map(String.init)
        }
        defer { proxy.stop() }
        let first = env.verdictLogSize
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0)
        #expect(try retries() == #"iam_db_proxy_token_retries_total{listener="pg"} 0"#, "counted from zero")
        let cached = try #require(env.tokenFingerprints(after: first).first)
        try env.revoke(fingerprint: cached)
        defer { try? env.revoke(fingerprint: nil) }
        let second = env.verdictLogSize
        let result = try proxy.psql(env, ["-c", "SELECT current_user"])
        #expect(result.status == 0, "\(result.stderr)")
        let verdicts = env.verdicts(after: second)
        #expect(verdicts.count == 2 && verdicts[0].contains("revoked") && verdicts[1].contains(#""ok": true"#), "\(verdicts)")
        #expect(proxy.logs.text.contains("retrying once with a fresh token"))
        #expect(try retries() == #"iam_db_proxy_token_retries_total{listener="pg"} 1"#)
    }

    @Test func freshTokenRefusedReachesClientUnchanged() async throws {
        var wrong = env.longTerm
        wrong.secret_access_key = "not-the-secret"
        let proxy = try await ProxyHarness.start(env, identity: wrong)
        defer { proxy.stop() }
        let before = env.verdictLogSize
        let result = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(#"FATAL:  PAM authentication failed for user "iam_user""#), "\(result.stderr)")
        #expect(env.verdicts(after: before).count == 1, "a fresh token that fails is not retried")
        // The proxy keeps serving after a refused login.
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)])
        #expect(answer.error?.sqlState == "28000", "PostgreSQL reports PAM failures as 28000")
        #expect(answer.error?.message == #"PAM authentication failed for user "iam_user""#)
    }
}

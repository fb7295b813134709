import CLibPQ
import Foundation
import NIOCore
import TestSupport
import Testing

/// The admin HTTP server: health endpoints in each state, Prometheus metrics that count what
/// happened, and POST /quitquitquit.
@Suite(.needsTestEnvironment, .serialized) struct AdminHTTPTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    struct Admin {
        let port: Int

        func get(_ path: String, method: String = "GET", headers: [String] = []) throws -> (status: Int, body: String) {
            let result = try runProcess("/usr/bin/curl", ["-s", "-m", "10", "-X", method, "-w", "\n%{http_code}"]
                                        + headers.flatMap { ["-H", $0] } + ["http://127.0.0.1:\(port)\(path)"])
            var lines = result.stdout.components(separatedBy: "\n")
            let status = Int(lines.removeLast()) ?? 0
            return (status, lines.joined(separator: "\n"))
        }

        /// The value of one sample line of /metrics (nil when absent).
        func metric(_ series: String) throws -> Double? {
            let body = try get("/metrics").body
            return body.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
    }

    func start(identity: TestEnvironment.Identity?, listenerYAML: String = "", topYAML: String = "") async throws -> (ProxyHarness, Admin) {
        let port = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: identity, listenerYAML: listenerYAML,
                                                 topYAML: "http: {listen: 127.0.0.1:\(port)}\n" + topYAML)
        return (proxy, Admin(port: port))
    }

    @Test func endpointsAnswerAndMetricsCountWhatHappened() async throws {
        let (proxy, admin) = try await start(identity: env.longTerm, listenerYAML: "users: [iam_user]\nmax_connections: 50", topYAML: "max_connections: 500")
        defer { proxy.stop() }
        #expect(try admin.get("/startup") == (200, "ok\n"))
        #expect(try admin.get("/liveness") == (200, "ok\n"))
        #expect(try admin.get("/readiness") == (200, "ok\n"))
        #expect(try admin.get("/nope").status == 404)
        #expect(try admin.get("/quitquitquit").status == 405)

        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0)
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0)
        #expect(try proxy.psql(env, user: env.postgres.iam_other_user, ["-c", "SELECT 1"]).status != 0)
        _ = await proxy.logs.waitFor("connection closed")
        #expect(try admin.metric(#"iam_db_proxy_connections_opened_total{listener="pg"}"#) == 3)
        #expect(try admin.metric(#"iam_db_proxy_handshake_duration_seconds_count{listener="pg"}"#) == 2)
        #expect(try admin.metric(#"iam_db_proxy_handshake_duration_seconds_bucket{listener="pg",le="+Inf"}"#) == 2)
        #expect(try admin.metric(#"iam_db_proxy_login_failures_total{listener="pg",class="allow_list"}"#) == 1, "the listener's users list said no, not the server")
        #expect(try admin.metric("iam_db_proxy_token_signings_total") == 1)
        #expect(try admin.metric("iam_db_proxy_token_cache_hits_total") == 1)
        #expect(try admin.metric(#"iam_db_proxy_credential_fetches_total{provider="environment"}"#) == 1)
        #expect(try admin.metric(#"iam_db_proxy_bytes_relayed_total{listener="pg",direction="client_to_server"}"#) ?? 0 > 0)
        #expect(try admin.metric(#"iam_db_proxy_bytes_relayed_total{listener="pg",direction="server_to_client"}"#) ?? 0 > 0)
        #expect(try admin.metric("iam_db_proxy_ready") == 1)
        #expect(try admin.metric("iam_db_proxy_credentials_available") == 1)
        // For a fleet's alerts: which version runs, since when, and the configured limits.
        #expect(try admin.metric(#"iam_db_proxy_build_info{version="0.1.0"}"#) == 1)
        let started = try #require(try admin.metric("process_start_time_seconds"))
        #expect(abs(started - Date().timeIntervalSince1970) < 600, "\(started)")
        #expect(try admin.metric(#"iam_db_proxy_connection_limit{listener=""}"#) == 500)
        #expect(try admin.metric(#"iam_db_proxy_connection_limit{listener="pg"}"#) == 50)
        #expect(try admin.metric(#"iam_db_proxy_session_duration_seconds_count{listener="pg"}"#) ?? 0 >= 1)
        #expect(try admin.metric(#"iam_db_proxy_login_failures_total{listener="pg",class="upstream"}"#) == 0, "counted from zero")
        #expect(try admin.metric(#"iam_db_proxy_upstream_failures_total{listener="pg",reason="tls"}"#) == 0, "counted from zero")
        let metrics = try admin.get("/metrics")
        #expect(metrics.body.contains("# TYPE iam_db_proxy_handshake_duration_seconds histogram"))
        #expect(!metrics.body.contains("X-Amz-Signature") && !metrics.body.contains(env.longTerm.secret_access_key))
    }

    @Test func upstreamFailuresAreCountedByReason() async throws {
        let port = try await ProxyHarness.freePort()
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, upstream: "127.0.0.1:\(port)",
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status != 0)
        let admin = Admin(port: adminPort)
        #expect(try admin.metric(#"iam_db_proxy_upstream_failures_total{listener="pg",reason="connect"}"#) == 1)
        #expect(try admin.metric(#"iam_db_proxy_login_failures_total{listener="pg",class="upstream"}"#) == 1)
    }

    @Test func readinessSaysNoAtMaxConnectionsWhenAskedToAndYesAgainAfter() async throws {
        let port = try await ProxyHarness.freePort()
        let checked = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "max_connections: 1",
                                                   topYAML: "http: {listen: 127.0.0.1:\(port), readiness_checks: [connection_limit]}\n")
        defer { checked.stop() }
        let checkedAdmin = Admin(port: port)
        let held = try #require(PQconnectdb("host=127.0.0.1 port=\(checked.port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        #expect(PQstatus(held) == CONNECTION_OK, "\(String(cString: PQerrorMessage(held)))\n\(checked.logs.text)")
        #expect(try checkedAdmin.get("/readiness") == (503, "max_connections reached on every listener\n"))
        #expect(try checkedAdmin.metric("iam_db_proxy_ready") == 0, "the gauge agrees with the endpoint")
        PQfinish(held)
        _ = await checked.logs.waitFor("connection closed")
        #expect(try checkedAdmin.get("/readiness") == (200, "ok\n"))
        #expect(try checkedAdmin.metric("iam_db_proxy_ready") == 1)
    }

    @Test func aFullListenerIsNotedButReadyByDefault() async throws {
        let (proxy, admin) = try await start(identity: env.longTerm, listenerYAML: "max_connections: 1")
        defer { proxy.stop() }
        let held = try #require(PQconnectdb("host=127.0.0.1 port=\(proxy.port) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        defer { PQfinish(held) }
        #expect(PQstatus(held) == CONNECTION_OK, "\(String(cString: PQerrorMessage(held)))\n\(proxy.logs.text)")
        #expect(try admin.get("/readiness") == (200, "ok\nmax_connections reached on every listener (not a readiness check here; see http.readiness_checks)\n"))
        #expect(try admin.metric("iam_db_proxy_ready") == 1)
    }

    @Test func readinessSaysNoWithoutCredentialsWhenAskedTo() async throws {
        let port = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: nil, topYAML: "http: {listen: 127.0.0.1:\(port), readiness_checks: [credentials]}\n")
        defer { proxy.stop() }
        let admin = Admin(port: port)
        #expect(try admin.get("/liveness").status == 200)
        let readiness = try admin.get("/readiness")
        #expect(readiness.status == 503)
        #expect(readiness.body.hasPrefix("no AWS credentials: no AWS credentials found; tried environment"), "\(readiness.body)")
        #expect(try admin.metric("iam_db_proxy_ready") == 0, "the gauge agrees with the endpoint")
        #expect(try admin.metric("iam_db_proxy_credentials_available") == 0)
        #expect(try admin.metric(#"iam_db_proxy_credential_failures_total{provider="chain"}"#) ?? 0 >= 1)
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status != 0)
        _ = await proxy.logs.waitFor("connection closed")
        #expect(try admin.metric(#"iam_db_proxy_login_failures_total{listener="pg",class="credentials"}"#) == 1, "not counted as upstream")
    }

    /// A sidecar's default: a credentials blip must not take every pod out of its Service at once.
    @Test func missingCredentialsAreNotedButReadyByDefault() async throws {
        let (proxy, admin) = try await start(identity: nil)
        defer { proxy.stop() }
        #expect(try admin.get("/readiness") == (200, "ok\nno AWS credentials held now (not a readiness check here; see http.readiness_checks)\n"))
        #expect(try admin.metric("iam_db_proxy_ready") == 1)
        #expect(try admin.metric("iam_db_proxy_credentials_available") == 0)
    }

    @Test func quitquitquitDrainsAndExitsZero() async throws {
        let (proxy, admin) = try await start(identity: env.longTerm, topYAML: "max_sigterm_delay: 10")
        defer { proxy.stop() }
        #expect(try admin.get("/quitquitquit", method: "POST") == (200, "shutting down\n"))
        #expect(proxy.waitForExit() == 0, "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("shutdown requested over HTTP"))
    }

    @Test func readinessTurnsNoAtSIGTERMWhileListenersStillAccept() async throws {
        let (proxy, admin) = try await start(identity: env.longTerm, topYAML: "min_sigterm_delay: 3")
        defer { proxy.stop() }
        proxy.sendSIGTERM()
        #expect(await proxy.logs.waitFor("shutting down"))
        #expect(try admin.get("/readiness") == (503, "shutting down\n"))
        #expect(try admin.get("/liveness").status == 200)
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0, "listeners keep accepting during min_sigterm_delay")
        #expect(proxy.waitForExit() == 0)
    }

    @Test func browserAndRebindingRequestsAreRefused() async throws {
        // Regression: a cross-origin form POST to loopback could stop the proxy.
        let (proxy, admin) = try await start(identity: env.longTerm)
        defer { proxy.stop() }
        #expect(try admin.get("/quitquitquit", method: "POST", headers: ["Origin: https://evil.example"]).status == 403)
        #expect(try admin.get("/metrics", headers: ["Sec-Fetch-Site: cross-site"]).status == 403)
        #expect(try admin.get("/readiness", headers: ["Host: rebound.evil.example:9090"]).status == 403)
        #expect(try admin.get("/readiness", headers: ["Host: localhost:9090"]).status == 200)
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0, "the proxy must still be running")
    }

    @Test func adminTokenGuardsQuitquitquit() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let token = "a-test-admin-token-0123456789"
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm,
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort), admin_token: \(token)}")
        defer { proxy.stop() }
        let admin = Admin(port: adminPort)
        #expect(try admin.get("/quitquitquit", method: "POST").status == 401)
        #expect(try admin.get("/quitquitquit", method: "POST", headers: ["Authorization: Bearer wrong"]).status == 401)
        #expect(try admin.get("/readiness").status == 200)
        #expect(try admin.get("/quitquitquit", method: "POST", headers: ["Authorization: Bearer \(token)"]) == (200, "shutting down\n"))
        #expect(proxy.waitForExit() == 0)
        #expect(!proxy.logs.text.contains(token), "the token must not be logged")
    }

    @Test func idleAdminConnectionsAreClosed() async throws {
        // Regression: connections that sent nothing stayed open for ever (203 of 203 after 45 s).
        let (proxy, admin) = try await start(identity: env.longTerm)
        defer { proxy.stop() }
        let started = ContinuousClock.now
        let answer = try await RawPostgresClient.exchange(port: admin.port, send: [], timeout: .seconds(30))
        #expect(answer.closed, "the idle admin connection was not closed")
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    /// The shipped alert rules: valid for promtool, each alert fires on the series meant to fire
    /// it (alerts.test.yaml), and every metric they name is one a running proxy exports.
    @Test func exampleAlertRulesPassPromtoolAndNameOnlyExportedMetrics() async throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/prometheus")
        let rules = folder.appendingPathComponent("alerts.yaml").path
        let check = try runProcess("/usr/bin/promtool", ["check", "rules", rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let unit = try runProcess("/usr/bin/promtool", ["test", "rules", folder.appendingPathComponent("alerts.test.yaml").path])
        #expect(unit.status == 0, "\(unit.stdout)\(unit.stderr)")

        // Temporary credentials, so the expiry gauge has a sample too.
        let (proxy, admin) = try await start(identity: env.temporary, listenerYAML: "max_connections: 10")
        defer { proxy.stop() }
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0)
        let exported = Set(try admin.get("/metrics").body.split(separator: "\n").compactMap { line -> String? in
            line.hasPrefix("# TYPE ") ? String(line.split(separator: " ")[2]) : nil
        })
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        let named = Set(text.matches(of: /(iam_db_proxy|process)_[a-z_]+/).map { String($0.output.0) })
        #expect(named.count >= 8, "\(named)")
        #expect(named.subtracting(exported).isEmpty, "named in the rules but not exported: \(named.subtracting(exported).sorted())")
    }
}

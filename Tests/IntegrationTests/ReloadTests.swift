import CLibPQ
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// SIGHUP re-reads the configuration file: listeners are added, changed and removed while
/// sessions on unchanged listeners go on; an invalid file changes nothing and says why.
@Suite(.needsTestEnvironment, .serialized) struct ReloadTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func listenerYAML(_ name: String, port: Int, users: String = "[iam_user, iam_other]") -> String {
        """
          - name: \(name)
            engine: postgres
            listen: 127.0.0.1:\(port)
            upstream: localhost:\(env.postgres.port)
            iam_region: \(env.region)
            users: \(users)
            tls: {mode: verify-full, ca_file: \(env.ca_file)}

        """
    }

    /// Rewrites the file, sends SIGHUP and waits for `line` (each step's line is unique).
    func reload(_ proxy: ProxyHarness, _ yaml: String, expecting line: String) async throws {
        try yaml.write(toFile: proxy.configurationFile, atomically: true, encoding: .utf8)
        proxy.sendSIGHUP()
        #expect(await proxy.logs.waitFor(line), "no '\(line)' after SIGHUP:\n\(proxy.logs.text)")
    }

    func psql(_ port: Int, user: String = "iam_user") throws -> (status: Int32, stdout: String, stderr: String) {
        try runProcess("/usr/bin/psql", ["host=127.0.0.1 port=\(port) dbname=appdb user=\(user) sslmode=disable connect_timeout=10", "-XAtc", "SELECT current_user"])
    }

    func query(_ connection: OpaquePointer) -> String? {
        let result = PQexec(connection, "SELECT 'still here'")
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else { return nil }
        return String(cString: PQgetvalue(result, 0, 0))
    }

    @Test func listenersAreAddedChangedAndRemovedWhileOpenSessionsGoOn() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm)
        defer { proxy.stop() }
        let main = proxy.port
        let extra = try await ProxyHarness.freePort()
        let held = try #require(PQconnectdb("host=127.0.0.1 port=\(main) dbname=appdb user=iam_user sslmode=disable connect_timeout=20"))
        defer { PQfinish(held) }
        #expect(PQstatus(held) == CONNECTION_OK)

        // Added: a second listener; the first is unchanged and its session untouched.
        try await reload(proxy, "listeners:\n" + listenerYAML("pg", port: main) + listenerYAML("extra", port: extra),
                         expecting: "changes=added: extra")
        #expect(try psql(extra).stdout == "iam_user\n")
        #expect(query(held) == "still here")

        // Changed: the first listener now allows only iam_other; its open session goes on.
        try await reload(proxy, "listeners:\n" + listenerYAML("pg", port: main, users: "[iam_other]") + listenerYAML("extra", port: extra),
                         expecting: "changes=changed: pg")
        #expect(try psql(main).stderr.contains("may not connect"))
        #expect(try psql(main, user: "iam_other").stdout == "iam_other\n")
        #expect(query(held) == "still here")

        // Removed: the second listener stops accepting.
        try await reload(proxy, "listeners:\n" + listenerYAML("pg", port: main, users: "[iam_other]"), expecting: "changes=removed: extra")
        #expect(try psql(extra).status != 0)
        #expect(query(held) == "still here")
    }

    @Test func invalidFileKeepsTheRunningConfigurationAndSaysWhere() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        try await reload(proxy, "listeners:\n  - name: pg\n    engine: postgres\n    listen: 127.0.0.1:\(proxy.port)\n    upstreem: x:1\n",
                         expecting: "configuration reload failed")
        #expect(proxy.logs.text.contains("\(proxy.configurationFile):5: listeners[0].upstreem: unknown key"), "\(proxy.logs.text)")
        #expect(try psql(proxy.port).stdout == "iam_user\n")
        let metrics = try runProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(adminPort)/metrics"]).stdout
        #expect(metrics.contains(#"iam_db_proxy_config_reloads_total{result="failed"} 1"#), "\(metrics)")
    }

    /// A reload whose listener cannot bind (its address is taken) must not leave the proxy
    /// deaf behind green health: a changed listener keeps its old socket, a new one is reported,
    /// and readiness (endpoint and gauge) says no while a configured listener is not listening.
    @Test func aListenerThatCannotBindLeavesTheOldOneServingAndReadinessFalse() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { taken.close(promise: nil) }
        let takenPort = try #require(taken.localAddress?.port)
        func readiness() throws -> String {
            try runProcess("/usr/bin/curl", ["-s", "-w", " %{http_code}", "http://127.0.0.1:\(adminPort)/readiness"]).stdout
        }
        func readyGauge() throws -> Bool {
            try runProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(adminPort)/metrics"]).stdout.contains("\niam_db_proxy_ready 1\n")
        }

        // Moved to a taken port: the old socket serves on.
        try await reload(proxy, "http: {listen: 127.0.0.1:\(adminPort)}\nlisteners:\n" + listenerYAML("pg", port: takenPort),
                         expecting: "configuration reloaded")
        #expect(proxy.logs.text.contains("changes=failed: pg"), "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("the address is already in use"), "\(proxy.logs.text)")
        #expect(try psql(proxy.port).stdout == "iam_user\n", "the old listener still serves")
        #expect(try readyGauge())

        // Same address, new settings: the socket is kept and new sessions get the new settings.
        try await reload(proxy, "http: {listen: 127.0.0.1:\(adminPort)}\nlisteners:\n" + listenerYAML("pg", port: proxy.port, users: "[iam_other]"),
                         expecting: "changes=changed: pg")
        #expect(try psql(proxy.port).stderr.contains("may not connect"))

        // A new listener on a taken port: not ready, by the endpoint and the gauge alike.
        try await reload(proxy, "http: {listen: 127.0.0.1:\(adminPort)}\nlisteners:\n" + listenerYAML("pg", port: proxy.port, users: "[iam_other]")
                         + listenerYAML("extra", port: takenPort), expecting: "changes=failed: extra")
        #expect(try readiness() == "not listening: extra (the last reload could not bind it)\n 503")
        #expect(try !readyGauge())
        #expect(try psql(proxy.port, user: "iam_other").stdout == "iam_other\n")
    }
}

import Foundation
import TestSupport
import Testing

/// Every way a MySQL login can go wrong reaches the client as an ERR packet with the right
/// code and SQLSTATE and a message that says what to do; the proxy keeps serving others.
@Suite(.needsTestEnvironment, .serialized) struct MySQLProxyErrorTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func start(identity: TestEnvironment.Identity? = nil, upstream: String? = nil, _ listenerYAML: String = "") async throws -> ProxyHarness {
        try await ProxyHarness.start(env, identity: identity ?? env.longTerm, listenerYAML: listenerYAML, upstream: upstream, engine: "mysql")
    }

    func expectStillServing(_ proxy: ProxyHarness) throws {
        let result = try proxy.mariadb(env, "SELECT CURRENT_USER()")
        #expect(result.status == 0 && result.stdout == "iam_user@%\n", "the proxy stopped serving: \(result.stderr)")
    }

    @Test func userOutsideTheAllowListGets1045() async throws {
        let proxy = try await start("users: [iam_user]")
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, user: env.mysql.iam_other_user, "SELECT 1")
        #expect(result.stderr.contains("ERROR 1045 (28000): iam-db-proxy: user 'iam_other' is not in the users list of listener my"), "\(result.stderr)")
        try expectStillServing(proxy)
    }

    @Test func passwordUserOrUnknownUserGets1045SayingItIsNotAnIAMUser() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        for user in [env.mysql.password_user, "nobody_here"] {
            let result = try proxy.mariadb(env, user: user, "SELECT 1")
            #expect(result.stderr.contains("ERROR 1045 (28000)"), "\(result.stderr)")
            #expect(result.stderr.contains("does not exist or is not an IAM user"), "\(result.stderr)")
        }
        try expectStillServing(proxy)
    }

    @Test func tokenTheServerRefusesIsReportedAs1045() async throws {
        // Credentials the verifier does not know: the signature cannot match.
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: [
            "AWS_SECRET_ACCESS_KEY": String(repeating: "x", count: 40),
        ], engine: "mysql")
        defer { proxy.stop() }
        let offset = env.verdictLogSize
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.stderr.contains("ERROR 1045 (28000): Access denied for user 'iam_user'"), "\(result.stderr)")
        #expect(env.verdicts(after: offset).contains { $0.contains("\"ok\": false") })
        // Logged when the connection closes, which can be after the client has read the error.
        #expect(await proxy.logs.waitFor("the server refused the login"))
        // One warning with what to compare against the IAM policy and the grants, never the token.
        let warning = try #require(proxy.logs.text.split(separator: "\n").first { $0.contains("warning") && $0.contains("login failed") })
        for field in ["user=iam_user", "sqlstate=28000", "likely_cause=the server did not accept the IAM token", "access_key_id=\(env.longTerm.access_key_id)", "provider=", "signing_host=localhost", "region=us-east-1"] {
            #expect(warning.contains(field), "\(field) missing from: \(warning)")
        }
    }

    @Test func unreachableUpstreamGets1429() async throws {
        let port = try await ProxyHarness.freePort()
        let proxy = try await start(upstream: "127.0.0.1:\(port)")
        defer { proxy.stop() }
        #expect(proxy.logs.text.contains("could not read the MySQL server greeting"))
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.stderr.contains("ERROR 1429 (HY000): iam-db-proxy: cannot connect to 127.0.0.1:\(port)"), "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1:\(port)"), "\(result.stderr)")
    }

    @Test func missingCredentialsGet1045NamingTheProviders() async throws {
        let proxy = try await ProxyHarness.start(env, identity: nil, engine: "mysql")
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.stderr.contains("ERROR 1045 (28000): iam-db-proxy could not sign an IAM auth token"), "\(result.stderr)")
        #expect(result.stderr.contains("environment"), "\(result.stderr)")
    }

    @Test func clientOverMaxConnectionsGets1040AndTheNextOneGetsIn() async throws {
        let proxy = try await start("max_connections: 1")
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, pymysql
            def connect(): return pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"])
            first = connect()
            try:
                connect(); print("second got in")
            except pymysql.err.OperationalError as error:
                print(error.args[0], "Too many connections" in error.args[1])
            first.close()
            """)
        #expect(result.stdout == "1040 True\n", "\(result.stderr)")
        // The refused one was counted out again: a new client gets in.
        let after = try await waitUntilServing(proxy)
        #expect(after)
    }

    func waitUntilServing(_ proxy: ProxyHarness) async throws -> Bool {
        // The first client's close is seen by the proxy a moment after the script ends.
        for _ in 0..<50 {
            if try proxy.mariadb(env, "SELECT 1").status == 0 { return true }
            _ = await proxy.logs.waitFor("connection closed", timeout: 0.1)
        }
        return false
    }

    @Test func malformedHandshakeGets1043WithSQLState() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, socket, struct
            s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
            s.recv(4096)
            s.sendall(bytes([3, 0, 0, 1, 1, 2, 3]))
            reply = s.recv(4096)
            code = struct.unpack("<H", reply[5:7])[0]
            print(reply[3], reply[4] == 0xFF, code, reply[7:13].decode())
            """)
        #expect(result.stdout == "2 True 1043 #08S01\n", "\(result.stderr)")
        try expectStillServing(proxy)
    }

    @Test func silentClientGets1043AtTheHandshakeTimeout() async throws {
        let proxy = try await start("handshake_timeout: 1")
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, socket, struct
            s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
            s.settimeout(20)
            s.recv(4096)
            reply = s.recv(4096)  # say nothing: the proxy gives up after handshake_timeout
            print(struct.unpack("<H", reply[5:7])[0], reply[7:13].decode(), b"within 1.0 s" in reply, s.recv(10) == b"")
            """)
        #expect(result.stdout == "1043 #08S01 True True\n", "\(result.stderr)")
        try expectStillServing(proxy)
    }

    @Test func changeUserIsRefusedAndTheSessionGoesOn() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, mysql.connector
            conn = mysql.connector.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"],
                                           ssl_disabled=True, use_pure=True)
            try:
                conn.cmd_change_user(username="iam_other"); print("changed")
            except mysql.connector.Error as error:
                print(error.errno, error.sqlstate, "open a new connection" in error.msg)
            cur = conn.cursor(); cur.execute("SELECT CURRENT_USER()"); print(cur.fetchone()[0])
            """)
        #expect(result.stdout == "1235 42000 True\niam_user@%\n", "\(result.stderr)")
    }

    @Test func clientTLSIsOfferedWhenConfigured() async throws {
        let proxy = try await start("""
            client_tls:
              cert_file: \(env.dir)/ca/server.pem
              key_file: \(env.dir)/ca/server.key
            """)
        defer { proxy.stop() }
        let result = try runProcess("/usr/bin/mariadb", [
            "-h", "localhost", "--protocol=tcp", "-P", "\(proxy.port)", "-u", env.mysql.iam_user, "--ssl-verify-server-cert",
            "--ssl-ca=\(env.ca_file)", "-N", "-B", "-e", "SELECT CURRENT_USER(); \\s", env.mysql.database,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("iam_user@%\n"))
        #expect(result.stdout.contains("SSL:\t\t\tCipher in use is") || result.stdout.contains("Cipher in use"), "\(result.stdout)")
    }

    /// A client that requires TLS (here `--ssl-verify-server-cert`; MariaDB 11.4+ clients by
    /// default) leaves right after the greeting; the close line says why and what to do.
    @Test func aClientThatRequiresTLSFromAListenerWithoutItGetsAHint() async throws {
        let proxy = try await start("")
        defer { proxy.stop() }
        let result = try runProcess("/usr/bin/mariadb", [
            "-h", "127.0.0.1", "-P", "\(proxy.port)", "-u", env.mysql.iam_user, "--ssl-verify-server-cert", "--ssl-ca=\(env.ca_file)",
            "-e", "SELECT 1", env.mysql.database,
        ])
        #expect(result.status != 0)
        #expect(await proxy.logs.waitFor("connection closed"))
        #expect(proxy.logs.text.contains("on loopback connect with --skip-ssl (ssl-mode=DISABLED), or give this listener client_tls"),
                "\(result.stderr)\n\(proxy.logs.text)")
        // A client that answers is not given the hint.
        #expect(try proxy.mariadb(env, "SELECT 1").status == 0)
        #expect(proxy.logs.text.components(separatedBy: "give this listener client_tls").count == 2, "\(proxy.logs.text)")
    }
}

import Foundation
import TestSupport
import Testing

/// Real MySQL clients log in to the local MariaDB through the proxy as IAM users: no
/// password on their side, TLS and a verified token on the server's side.
@Suite(.needsTestEnvironment, .serialized) struct MySQLProxyTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func start(_ listenerYAML: String = "") async throws -> ProxyHarness {
        try await ProxyHarness.start(env, identity: env.temporary, listenerYAML: listenerYAML, engine: "mysql")
    }

    /// As a container's numeric user (not root) runs it (see the PostgreSQL test of the same name).
    @Test func aProxyRunAsANonRootUserServesSessions() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.temporary, engine: "mysql", unprivileged: true)
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, "SELECT CURRENT_USER()")
        #expect(result.status == 0, "\(result.stderr)\n\(proxy.logs.text)")
        #expect(result.stdout == "iam_user@%\n")
    }

    @Test func mariadbClientLogsInAsTheIAMUserOverUpstreamTLS() async throws {
        // At trace level, to show that not even the most verbose log carries a secret.
        let proxy = try await ProxyHarness.start(env, identity: env.temporary, extraEnvironment: ["IAM_DB_PROXY_LOG_LEVEL": "trace"],
                                                 engine: "mysql")
        defer { proxy.stop() }
        let before = env.verdictLogSize
        for password in [nil, "dummy"] {
            // Two statements in one COM_QUERY: CLIENT_MULTI_STATEMENTS is relayed.
            let result = try proxy.mariadb(env, password: password, "SELECT CURRENT_USER(); SHOW STATUS LIKE 'Ssl_version'")
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.first == "iam_user@%")
            #expect(lines.last?.hasPrefix("Ssl_version\tTLSv1.") == true, "\(result.stdout)")
        }
        // A client that asks for compression is not offered it and works uncompressed.
        let compressed = try runProcess("/usr/bin/mariadb", ["--compress", "-h", "127.0.0.1", "-P", "\(proxy.port)", "-u", "iam_user",
                                                              "--skip-ssl", "-N", "-B", "-e", "SHOW STATUS LIKE 'Compression'"])
        #expect(compressed.stdout == "Compression\tOFF\n", "\(compressed.stderr)")
        for secret in [env.temporary.secret_access_key, env.temporary.session_token ?? "-", "X-Amz-Signature", "Amz-Security-Token"] {
            #expect(!proxy.logs.text.contains(secret), "a secret reached the log")
        }
        // Each login step is visible at debug level, with what is needed to compare with the IAM policy.
        for step in ["dialing the upstream and getting a password", "provider=", "upstream connected", "upstream TLS established", "tls_version=tlsv1",
                     "access_key_id=\(env.temporary.access_key_id)", "signing_host=localhost"] {
            #expect(proxy.logs.text.contains(step), "no debug line with \(step)")
        }
        // The independent verifier accepted the token each time; later logins reused it.
        let verdicts = env.verdicts(after: before)
        #expect(verdicts.count == 3 && verdicts.allSatisfy { $0.contains("\"ok\": true") && $0.contains("iam_user") }, "\(verdicts)")
        #expect(env.tokenFingerprints(after: before).count == 1)
        #expect(proxy.logs.text.contains("learned the MySQL server greeting"))
        // Which identity signs, once at start.
        #expect(proxy.logs.text.contains("access_key_id=\(env.temporary.access_key_id)") && proxy.logs.text.contains("AWS credentials for signing"))
        #expect(proxy.logs.text.contains("provider=environment"))
        // At trace level the relay's message observer counts each direction's packets.
        #expect(await proxy.logs.waitFor("server=packets="), "no wire summary")
        #expect(proxy.logs.text.contains("client=packets="))
    }

    @Test func pythonDriversConnectWithAndWithoutAPassword() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import os, pymysql, mysql.connector
            port, user, db = int(os.environ["PORT"]), os.environ["USER"], os.environ["DB"]
            def show(name, conn):
                cur = conn.cursor(); cur.execute("SELECT CURRENT_USER(), 6*7"); print(name, *cur.fetchone()); conn.close()
            show("pymysql", pymysql.connect(host="127.0.0.1", port=port, user=user, database=db))
            show("pymysql-pw", pymysql.connect(host="127.0.0.1", port=port, user=user, password="dummy", database=db))
            show("connector-c", mysql.connector.connect(host="127.0.0.1", port=port, user=user, database=db, ssl_disabled=True))
            show("connector-pure", mysql.connector.connect(host="127.0.0.1", port=port, user=user, password="x", database=db,
                                                           ssl_disabled=True, use_pure=True))
            """)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            pymysql iam_user@% 42
            pymysql-pw iam_user@% 42
            connector-c iam_user@% 42
            connector-pure iam_user@% 42

            """)
    }

    @Test func loadDataLocalInfileOf50MBComesBackIdentical() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let result = try proxy.python(env, """
            import hashlib, os, pymysql, random
            rnd = random.Random(7)
            rows = ["%d,%s\\n" % (i, "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=90))) for i in range(540000)]
            data = "".join(rows).encode()
            path = "/tmp/iam-db-proxy-load-%d.csv" % os.getpid()
            open(path, "wb").write(data)
            conn = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"], local_infile=True)
            cur = conn.cursor()
            cur.execute("CREATE OR REPLACE TABLE bulk_load (id INT PRIMARY KEY, body VARCHAR(100))")
            cur.execute("LOAD DATA LOCAL INFILE '%s' INTO TABLE bulk_load FIELDS TERMINATED BY ','" % path)
            conn.commit(); os.unlink(path)
            cur.execute("SELECT id, body FROM bulk_load ORDER BY id")
            back = hashlib.sha256()
            for row in cur.fetchall(): back.update(("%d,%s\\n" % row).encode())
            print(len(data) >= 50 * 1000 * 1000, back.hexdigest() == hashlib.sha256(data).hexdigest())
            cur.execute("DROP TABLE bulk_load")
            """)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "True True\n")
    }

    @Test func sysbenchReadOnlyRunsTenSecondsWithoutErrors() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let common = ["--mysql-host=127.0.0.1", "--mysql-port=\(proxy.port)", "--mysql-user=\(env.mysql.iam_user)",
                      "--mysql-db=\(env.mysql.database)", "--mysql-ssl=off", "--tables=2", "--table-size=1000"]
        _ = try runSysbench(["oltp_read_only"] + common + ["cleanup"])
        let prepare = try runSysbench(["oltp_read_only"] + common + ["prepare"])
        #expect(prepare.status == 0, "\(prepare.stderr)")
        let run = try runSysbench(["oltp_read_only"] + common + ["--threads=4", "--time=10", "run"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("ignored errors:                      0 "), "\(run.stdout)")
        let transactions = run.stdout.split(separator: "\n").first { $0.contains("transactions:") }
        #expect(transactions.flatMap { Int($0.split(separator: " ")[1]) } ?? 0 > 0, "\(run.stdout)")
        _ = try runSysbench(["oltp_read_only"] + common + ["cleanup"])
    }

    func runSysbench(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProcess("/usr/bin/sysbench", arguments)
    }

    @Test func clientsThatLeaveBeforeAnsweringNeverReachTheServer() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        func abortedConnects() throws -> Int {
            let result = try proxy.mariadb(env, "SHOW GLOBAL STATUS LIKE 'Aborted_connects'")
            return Int(result.stdout.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        }
        let before = try abortedConnects()
        #expect(before >= 0)
        let probes = try proxy.python(env, """
            import os, socket
            for _ in range(100):
                s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
                greeting = s.recv(4096); assert greeting[4] == 10, greeting; s.close()
            print("ok")
            """)
        #expect(probes.stdout == "ok\n", "\(probes.stderr)")
        #expect(try abortedConnects() == before)
    }

    @Test func killWithTheGreetingsIDStopsTheQueryOrTheSessionEvenAfterASilentRetry() async throws {
        let proxy = try await ProxyHarness.start(env, identity: nil, extraEnvironment: try RotatingCredentials.environment(env), engine: "mysql")
        defer { proxy.stop() }
        // Cache a token, then make the server refuse it: the next login retries silently.
        let offset = env.verdictLogSize
        #expect(try proxy.mariadb(env, "SELECT 1").status == 0)
        let cached = try #require(env.tokenFingerprints(after: offset).first)
        try env.revoke(fingerprint: cached)
        defer { try? env.revoke(fingerprint: nil) }
        let result = try proxy.python(env, """
            import os, pymysql, threading, time
            def connect(): return pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"])
            victim = connect()
            killer = connect()
            outcome = {}
            def run():
                started = time.time()
                try:
                    cur = victim.cursor(); cur.execute("SELECT SLEEP(30)"); outcome["result"] = cur.fetchall()
                except pymysql.err.OperationalError as error:
                    outcome["result"] = error.args[0]
                outcome["seconds"] = time.time() - started
            thread = threading.Thread(target=run); thread.start()
            time.sleep(1)
            killer.cursor().execute("KILL QUERY %d" % victim.thread_id())
            thread.join()
            print(victim.thread_id() > 2000000000, outcome["result"], outcome["seconds"] < 15)
            try:
                killer.cursor().execute("KILL QUERY 4000000000")
            except pymysql.err.OperationalError as error:
                print(error.args[0])
            killer.cursor().execute("KILL CONNECTION %d" % victim.thread_id())
            try:
                victim.cursor().execute("SELECT 1"); print("victim alive")
            except pymysql.err.OperationalError as error:
                print("victim gone", error.args[0] in (2006, 2013))
            """)
        #expect(result.status == 0, "\(result.stderr)")
        // 1317: query execution was interrupted; 1094: unknown thread id.
        #expect(result.stdout == "True 1317 True\n1094\nvictim gone True\n", "\(result.stderr)")
        #expect(proxy.logs.text.contains("cached token refused; retrying once"))
        #expect(proxy.logs.text.contains("forwarding KILL"))
    }

    @Test func killWhoseCachedTokenIsRefusedRetriesOnceWithAFreshToken() async throws {
        // Regression: the KILL path had its own login without the fresh-token retry a login has.
        let proxy = try await ProxyHarness.start(env, identity: nil, extraEnvironment: try RotatingCredentials.environment(env), engine: "mysql")
        defer { proxy.stop() }
        defer { try? env.revoke(fingerprint: nil) }
        // Both logged in with the cached token; then the server refuses it, as after a rotation.
        let result = try proxy.killQueryFromAnotherSession(env, beforeKill: """
            last = json.loads(open("\(env.verdict_log)").read().splitlines()[-1])
            open("\(env.revoked_list)", "w").write(last["fp"] + "\\n")
            """)
        #expect(result.stdout == "((1,),)\n" || result.stdout == "1317\n", "\(result.stderr)\n\(proxy.logs.text.suffix(2_000))")
        #expect(result.stdout != "((0,),)\n")
        #expect(proxy.logs.text.contains("cached token refused for KILL; retrying once with a fresh token"), "\(proxy.logs.text.suffix(2_000))")
    }
}

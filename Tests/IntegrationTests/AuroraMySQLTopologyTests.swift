import Foundation
import Testing

/// Aurora-aware routing for MySQL listeners. MariaDB has no `information_schema.replica_host_status`,
/// so each "instance" is the scripted MySQL server (testenv/scripted_mysql_server.py) on its own
/// loopback address — instance-a on 127.0.0.2, instance-b on 127.0.0.3, one port — answering the
/// topology from a file the test rewrites as Aurora's control plane would, read-only unless it
/// is the writer, and checking each IAM token with the independent verifier for its own
/// endpoint. The cluster name resolves to the reader (a stale DNS answer).
@Suite(.needsTestEnvironment, .serialized) struct AuroraMySQLTopologyTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    final class Cluster {
        let folder: String
        let topologyFile: String
        let port: Int
        var instances: [LoopbackScript]

        init(env: TestEnvironment, user: String) async throws {
            folder = try LoopbackScript.temporaryFolder("aurora-mysql-")
            topologyFile = folder + "/topology.json"
            port = try await ProxyHarness.freePort()
            let certificate = try TestCertificate.issue(names: ["*.instances.test.invalid", AuroraTopologyRoutingTests.cluster], env: env)
            var servers: [LoopbackScript] = []
            try Self.write(writer: "instance-a", to: topologyFile)
            for (instance, address) in [("a", "127.0.0.2"), ("b", "127.0.0.3")] {
                let users = folder + "/users-\(instance).json"
                try JSONSerialization.data(withJSONObject: [user: ["plugin": "mysql_clear_password", "iam": "aurora-\(instance)"]])
                    .write(to: URL(fileURLWithPath: users))
                servers.append(try LoopbackScript("scripted_mysql_server.py", [
                    certificate.certificate, certificate.key, users, folder + "/logins-\(instance).log",
                    "\(address):\(port)", "instance-\(instance)", topologyFile, env.dir + "/verifier.json",
                ]))
            }
            instances = servers
        }

        static func write(writer: String, to file: String) throws {
            try JSONSerialization.data(withJSONObject: ["writer": writer, "instances": ["instance-a", "instance-b"]])
                .write(to: URL(fileURLWithPath: file), options: .atomic)
        }

        func announce(writer: String) throws { try Self.write(writer: writer, to: topologyFile) }

        /// `user path outcome reason` of each login instance `id` saw.
        func logins(_ id: String) -> [String] {
            LoopbackScript.jsonLines(folder + "/logins-\(id).log").map { "\($0["user"] ?? "?") \($0["path"] ?? "-") \($0["outcome"] ?? "?") \($0["reason"] ?? "")" }
        }
    }

    func proxy(_ cluster: Cluster, role: String = "writer") async throws -> ProxyHarness {
        try await ProxyHarness.start(
            env, identity: env.longTerm,
            listenerYAML: AuroraTopologyRoutingTests.listenerYAML(role: role, monitorUser: env.mysql.iam_user),
            upstream: "\(AuroraTopologyRoutingTests.cluster):\(cluster.port)", topYAML: AuroraTopologyRoutingTests.resolveYAML,
            engine: "mysql")
    }

    @Test func writerSessionsFollowTheTopologyAndOldWriterSessionsGet1053() async throws {
        let cluster = try await Cluster(env: env, user: env.mysql.iam_user)
        let proxy = try await proxy(cluster)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        let first = try proxy.mariadb(env, "SELECT 1")
        #expect(first.status == 0 && first.stdout == "\(env.mysql.iam_user)@instance-a\n", "\(first.stderr)\n\(proxy.logs.text.suffix(2_000))")
        #expect(cluster.logins("a").allSatisfy { $0.contains("clear+iam ok") }, "tokens signed for instance-a's endpoint: \(cluster.logins("a"))")

        // A session held open on instance-a across a switchover is ended by the proxy with 1053.
        let marker = cluster.folder + "/switched"
        let held = Task.detached { [env] in
            try proxy.python(env, """
                import os, time, pymysql
                conn = pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"], ssl_disabled=True)
                cur = conn.cursor(); cur.execute("SELECT 1"); print(cur.fetchone()[0], flush=True)
                while not os.path.exists("\(marker)"): time.sleep(0.05)
                try:
                    cur.execute("SELECT 1"); print("still", cur.fetchone()[0])
                except pymysql.err.OperationalError as error:
                    print("error", error.args[0], error.args[1])
                """)
        }
        #expect(await proxy.logs.waitFor("session logged in", occurrences: 2))
        try cluster.announce(writer: "instance-b")
        #expect(await proxy.logs.waitFor("writer changed: failover"), "\(proxy.logs.text.suffix(3_000))")
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let outcome = try await held.value
        #expect(outcome.stdout.contains("\(env.mysql.iam_user)@instance-a\nerror 1053 ")
                && outcome.stdout.contains("instance-a is no longer the writer"), "\(outcome.stdout)\(outcome.stderr)")

        let second = try proxy.mariadb(env, "SELECT 1")
        #expect(second.status == 0 && second.stdout == "\(env.mysql.iam_user)@instance-b\n", "\(second.stderr)")
        #expect(cluster.logins("b").contains { $0.contains("clear+iam ok") }, "\(cluster.logins("b"))")
        #expect(cluster.logins("a").allSatisfy { !$0.contains("denied") } && cluster.logins("b").allSatisfy { !$0.contains("denied") },
                "no token was signed for the wrong host: \(cluster.logins("a")) \(cluster.logins("b"))")
    }

    @Test func readerSessionsGoToTheReader() async throws {
        let cluster = try await Cluster(env: env, user: env.mysql.iam_user)
        let proxy = try await proxy(cluster, role: "reader")
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.status == 0 && result.stdout == "\(env.mysql.iam_user)@instance-b\n", "\(result.stderr)")
    }

    @Test func aCrashedWriterIsReplacedByTheOneTheTopologyNames() async throws {
        let cluster = try await Cluster(env: env, user: env.mysql.iam_user)
        let proxy = try await proxy(cluster)
        defer { proxy.stop() }
        #expect(await proxy.logs.waitFor("topology read"), "\(proxy.logs.text.suffix(3_000))")
        try cluster.announce(writer: "instance-b")
        cluster.instances.removeFirst()  // instance-a's server stops, its monitoring session with it
        #expect(await proxy.logs.waitFor("writer changed: failover"), "\(proxy.logs.text.suffix(3_000))")
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.status == 0 && result.stdout == "\(env.mysql.iam_user)@instance-b\n", "\(result.stderr)")
        #expect(proxy.logs.text.contains("writer in doubt"), "the dropped monitoring session started the fast polling")
    }
}

import Foundation
import TestSupport
import Testing

/// `auth: secret` on MySQL listeners: the real MariaDB answers mysql_native_password; a scripted
/// MySQL 8-like server (testenv/scripted_mysql_server.py) answers what MariaDB 10.11 cannot:
/// caching_sha2_password with fast and full authentication, mysql_clear_password, and auth
/// switches from the greeting's plugin to the user's.
@Suite(.needsTestEnvironment, .serialized) struct SecretsManagerMySQLTests {
    let env: TestEnvironment
    static let user = "secret_my"

    init() throws { env = try TestEnvironment.load() }

    static func secretJSON(_ user: String, _ password: String) -> String { #"{"username":"\#(user)","password":"\#(password)","engine":"mysql"}"# }

    func rootSQL(_ sql: String) throws {
        let result = try runProcess("/usr/bin/mariadb", ["--protocol=socket", "--socket=\(env.dir)/mysql/run/mysqld.sock", "-uroot", "-e", sql])
        try #require(result.status == 0, "\(result.stderr)")
    }

    func start(_ fake: FakeSecretsManager, user: String, upstream: String? = nil) async throws -> ProxyHarness {
        let listener = fake.listener(user: user)
        return try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment, listenerYAML: listener.yaml,
                                            upstream: upstream, engine: "mysql")
    }

    @Test func mariaDBsNativePasswordAndARotation() async throws {
        try rootSQL("CREATE USER IF NOT EXISTS \(Self.user) IDENTIFIED BY 'first-Pa55'; ALTER USER \(Self.user) IDENTIFIED BY 'first-Pa55';"
                    + " GRANT ALL ON appdb.* TO \(Self.user)")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON(Self.user, "first-Pa55")]])
        let proxy = try await start(fake, user: Self.user)
        defer { proxy.stop() }
        let first = try proxy.mariadb(env, user: Self.user, "SELECT CURRENT_USER()")
        #expect(first.status == 0 && first.stdout == "\(Self.user)@%\n", "\(first.stderr)\n\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("auth=mysql_native_password"), "\(proxy.logs.text)")

        try rootSQL("ALTER USER \(Self.user) IDENTIFIED BY 'second-Pa55'")
        try fake.rotate(["app/db": ["AWSCURRENT": Self.secretJSON(Self.user, "second-Pa55")]])
        let afterRotation = try proxy.mariadb(env, user: Self.user, "SELECT 1")
        #expect(afterRotation.status == 0, "one refusal, the secret fetched again: \(afterRotation.stderr)\n\(proxy.logs.text)")
        #expect(fake.outcomes == ["ok", "ok"])

        // KILL logs in on a side connection as the same user: with the secret's password too.
        let kill = try proxy.killQueryFromAnotherSession(env, user: Self.user)
        #expect(kill.stdout == "((1,),)\n" || kill.stdout == "1317\n", "\(kill.stderr)\n\(proxy.logs.text.suffix(2_000))")

        let stranger = try proxy.mariadb(env, user: env.mysql.iam_user, "SELECT 1")
        #expect(stranger.stderr.contains("ERROR 1045") && stranger.stderr.contains("is not in the users list"), "\(stranger.stderr)")
        for secret in ["first-Pa55", "second-Pa55"] { #expect(!proxy.logs.text.contains(secret)) }
    }

    @Test func anUnreadableSecretIs1045NamingTheSecret() async throws {
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON(Self.user, "x")]])
        let listener = fake.listener(user: Self.user, secretID: "app/missing")
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment, listenerYAML: listener.yaml, engine: "mysql")
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, user: Self.user, "SELECT 1")
        #expect(result.stderr.contains("ERROR 1045"), "\(result.stderr)")
        #expect(result.stderr.contains("iam-db-proxy could not read the password from Secrets Manager: secret app/missing: ResourceNotFoundException"),
                "\(result.stderr)")
    }

    /// The scripted server, its users file and the log of its logins.
    final class ScriptedServer {
        let usersFile: String
        let logFile: String
        let script: LoopbackScript

        /// `throttle`: logins each user has refused as throttled (ERROR 1040) before one gets through;
        /// `readOnly`: the server says it is read-only (a replica).
        init(env: TestEnvironment, users: [String: (plugin: String, password: String)], throttle: Int = 0, readOnly: Bool = false) throws {
            let folder = try LoopbackScript.temporaryFolder("scripted-mysql-")
            usersFile = folder + "/users.json"
            logFile = folder + "/logins.log"
            try Self.write(users, to: usersFile, throttle: throttle, readOnly: readOnly)
            script = try LoopbackScript("scripted_mysql_server.py", [env.dir + "/ca/server.pem", env.dir + "/ca/server.key", usersFile, logFile])
        }

        static func write(_ users: [String: (plugin: String, password: String)], to file: String, throttle: Int = 0, readOnly: Bool = false) throws {
            let document = users.mapValues { ["plugin": $0.plugin, "password": $0.password, "throttle": throttle, "read_only": readOnly ? 1 : 0] as [String: Any] }
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: file), options: .atomic)
        }

        func rotate(_ users: [String: (plugin: String, password: String)], readOnly: Bool = false) throws {
            try Self.write(users, to: usersFile, readOnly: readOnly)
        }

        /// `user path outcome` for each login so far.
        var logins: [String] {
            LoopbackScript.jsonLines(logFile).map { "\($0["user"] ?? "?") \($0["path"] ?? "-") \($0["outcome"] ?? "?")" }
        }
    }

    @Test func aLoginTheServerThrottlesIsRetriedAfterABackoff() async throws {
        let server = try ScriptedServer(env: env, users: ["native_user": ("mysql_native_password", "native-Pa55")], throttle: 2)
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("native_user", "native-Pa55")]])
        let proxy = try await start(fake, user: "native_user", upstream: "localhost:\(server.script.port)")
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, user: "native_user", "SELECT 1")
        #expect(result.status == 0 && result.stdout == "native_user\n", "\(result.stderr)\n\(proxy.logs.text)")
        #expect(server.logins.map { $0.split(separator: " ").last.map(String.init) ?? "" } == ["throttled", "throttled", "ok"])
        #expect(proxy.logs.count("the server throttled the login") == 2)
    }

    @Test func aWriterListenerThatReachesAReplicaRetriesUntilTheServerIsWritable() async throws {
        let users = ["native_user": (plugin: "mysql_native_password", password: "native-Pa55")]
        let server = try ScriptedServer(env: env, users: users, readOnly: true)
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("native_user", "native-Pa55")]])
        let proxy = try await start(fake, user: "native_user", upstream: "localhost:\(server.script.port)")
        defer { proxy.stop() }
        let client = Task.detached { [env] in try proxy.mariadb(env, user: "native_user", "SELECT 1") }
        #expect(await proxy.logs.waitFor("logged in to a read-only standby through a writer listener"))
        // The replica becomes the writer (or DNS moves to it): the next retry is handed over.
        try server.rotate(users, readOnly: false)
        let result = try await client.value
        #expect(result.status == 0 && result.stdout == "native_user\n", "\(result.stderr)\n\(proxy.logs.text.suffix(2_000))")
    }

    @Test func aReplicaThatStaysReadOnlyIsRefusedWithTheReason() async throws {
        let server = try ScriptedServer(env: env, users: ["native_user": ("mysql_native_password", "native-Pa55")], readOnly: true)
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("native_user", "native-Pa55")]])
        let listener = fake.listener(user: "native_user")
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment,
                                                 listenerYAML: listener.yaml + "\nhandshake_timeout: 1", upstream: "localhost:\(server.script.port)", engine: "mysql")
        defer { proxy.stop() }
        let refused = try proxy.mariadb(env, user: "native_user", "SELECT 1")
        #expect(refused.stderr.contains("ERROR 1290") && refused.stderr.contains("set role: reader"), "\(refused.stderr)")
    }

    @Test func cachingSHA2FastAndFullAuthenticationAndARotation() async throws {
        let server = try ScriptedServer(env: env, users: ["sha2_user": ("caching_sha2_password", "first-Sha2")])
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("sha2_user", "first-Sha2")]])
        let proxy = try await start(fake, user: "sha2_user", upstream: "localhost:\(server.script.port)")
        defer { proxy.stop() }
        for _ in 0..<2 {
            let result = try proxy.mariadb(env, user: "sha2_user", "SELECT 1")
            #expect(result.status == 0 && result.stdout == "sha2_user\n", "\(result.stderr)\n\(proxy.logs.text)")
        }
        // First the server has no cached hash (full authentication, the password over TLS); then it has.
        #expect(server.logins == ["sha2_user full ok", "sha2_user fast ok"])

        // A rotation empties the server's cache; the cached secret is refused once, then fetched again.
        try server.rotate(["sha2_user": ("caching_sha2_password", "second-Sha2")])
        try fake.rotate(["app/db": ["AWSCURRENT": Self.secretJSON("sha2_user", "second-Sha2")]])
        let afterRotation = try proxy.mariadb(env, user: "sha2_user", "SELECT 1")
        #expect(afterRotation.status == 0, "\(afterRotation.stderr)\n\(proxy.logs.text)")
        #expect(server.logins.suffix(2) == ["sha2_user full denied", "sha2_user full ok"])
        #expect(fake.outcomes == ["ok", "ok"])
        for secret in ["first-Sha2", "second-Sha2"] { #expect(!proxy.logs.text.contains(secret)) }
    }

    @Test(arguments: [("clear_user", "mysql_clear_password", "switch+clear"), ("native_user", "mysql_native_password", "switch+scramble")])
    func anAuthSwitchToTheUsersPluginIsAnswered(user: String, plugin: String, path: String) async throws {
        // The greeting offers caching_sha2_password; these users' plugins differ, so the server switches.
        let server = try ScriptedServer(env: env, users: [user: (plugin, "\(plugin)-Pa55")])
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON(user, "\(plugin)-Pa55")]])
        let proxy = try await start(fake, user: user, upstream: "localhost:\(server.script.port)")
        defer { proxy.stop() }
        let result = try proxy.mariadb(env, user: user, "SELECT 1")
        #expect(result.status == 0 && result.stdout == "\(user)\n", "\(result.stderr)\n\(proxy.logs.text)")
        #expect(server.logins == ["\(user) \(path) ok"])
    }
}

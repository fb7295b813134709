import Foundation
import TestSupport
import Testing

/// `auth: secret` listeners: the password comes from a Secrets Manager secret, fetched with a
/// SigV4-signed GetSecretValue from a real HTTP server on loopback that recomputes the signature
/// (testenv/fake_secrets_manager.py), and answers the real PostgreSQL's SCRAM-SHA-256.
@Suite(.needsTestEnvironment, .serialized) struct SecretsManagerTests {
    let env: TestEnvironment
    static let role = "secret_user"

    init() throws { env = try TestEnvironment.load() }

    static func secretJSON(_ password: String) -> String { #"{"username":"\#(role)","password":"\#(password)","engine":"postgres"}"# }

    /// SQL as the servers' superuser, to make and rotate the role.
    func superuser(_ sql: String) throws {
        let result = try runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", "psql", "-h", env.dir + "/pg/run", "-p", "\(env.postgres.port)",
                                                          "-U", "postgres", "-d", "postgres", "-qAtc", sql])
        try #require(result.status == 0, "\(result.stderr)")
    }

    /// At trace level, the most verbose; every harness checks its log for secrets when stopped.
    func start(_ fake: FakeSecretsManager, secretID: String = "app/db", identity: TestEnvironment.Identity? = nil, topYAML: String = "") async throws -> ProxyHarness {
        let listener = fake.listener(user: Self.role, secretID: secretID)
        return try await ProxyHarness.start(env, identity: identity ?? env.longTerm, extraEnvironment: listener.environment.merging(["IAM_DB_PROXY_LOG_LEVEL": "trace"]) { $1 },
                                            listenerYAML: listener.yaml, topYAML: topYAML)
    }

    @Test func theSecretsPasswordAnswersSCRAMAndARotationCostsOneRetry() async throws {
        try superuser("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(Self.role)') THEN CREATE ROLE \(Self.role) LOGIN; END IF; END $$;"
                      + " ALTER ROLE \(Self.role) LOGIN PASSWORD 'first-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("first-Pa55")]])
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await start(fake, topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let first = try proxy.psql(env, user: Self.role, ["-c", "SELECT current_user"])
        #expect(first.status == 0 && first.stdout == "\(Self.role)\n", "\(first.stderr)\n\(proxy.logs.text)")
        #expect(fake.outcomes == ["ok"], "one signed GetSecretValue, its signature accepted")
        // PostgreSQL offers SCRAM-SHA-256-PLUS over TLS; the server checked the binding to its certificate.
        #expect(proxy.logs.text.contains("auth=SCRAM-SHA-256-PLUS"), "\(proxy.logs.text)")

        // A rotation: the server's password and the secret change; open sessions are not involved.
        try superuser("ALTER ROLE \(Self.role) PASSWORD 'second-Pa55'")
        try fake.rotate(["app/db": ["AWSCURRENT": Self.secretJSON("second-Pa55")]])
        let afterRotation = try proxy.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(afterRotation.status == 0, "the cached password is refused once, the secret fetched again: \(afterRotation.stderr)\n\(proxy.logs.text)")
        #expect(fake.outcomes == ["ok", "ok"])
        let metrics = try runProcess("/usr/bin/curl", ["-s", "-m", "10", "http://127.0.0.1:\(adminPort)/metrics"]).stdout
        #expect(metrics.contains("iam_db_proxy_token_retries_total"), "\(metrics)")
        for secret in ["first-Pa55", "second-Pa55"] {
            #expect(!proxy.logs.text.contains(secret) && !metrics.contains(secret), "a secret value reached the log or /metrics")
        }
    }

    @Test func anUnreadableSecretIsNamedWithTheAWSErrorAndNotItsValue() async throws {
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("never-Shown-1")]])
        let missing = try await start(fake, secretID: "app/missing")
        defer { missing.stop() }
        let result = try missing.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("iam-db-proxy could not read the password from Secrets Manager: secret app/missing: ResourceNotFoundException"),
                "\(result.stderr)")
        // Keys the service does not know: its own error code, through to the client.
        let wrongKeys = TestEnvironment.Identity(name: "unknown", access_key_id: "AKIDUNKNOWNKEY000000", secret_access_key: "x", session_token: nil)
        let stranger = try await start(fake, identity: wrongKeys)
        defer { stranger.stop() }
        let refused = try stranger.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(refused.stderr.contains("UnrecognizedClientException"), "\(refused.stderr)")
        #expect(!missing.logs.text.contains("never-Shown-1") && !stranger.logs.text.contains("never-Shown-1"))
    }

    @Test(arguments: [("secret_md5", "md5"), ("secret_clear", "password")])
    func md5AndCleartextServersAreAnsweredToo(role: String, method: String) async throws {
        // pg_hba.conf (testenv/start.sh) asks these two roles for md5 and cleartext passwords;
        // md5 needs the password stored as md5, or the server would use SCRAM anyway.
        try superuser("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE \(role) LOGIN; END IF; END $$;"
                      + " SET password_encryption = '\(method == "md5" ? "md5" : "scram-sha-256")'; ALTER ROLE \(role) LOGIN PASSWORD '\(method)-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": #"{"username":"\#(role)","password":"\#(method)-Pa55"}"#]])
        let listener = fake.listener(user: role)
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment, listenerYAML: listener.yaml)
        defer { proxy.stop() }
        let result = try proxy.psql(env, user: role, ["-c", "SELECT current_user"])
        #expect(result.status == 0 && result.stdout == "\(role)\n", "\(method): \(result.stderr)\n\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("auth=\(method == "md5" ? "md5" : "cleartext")"), "\(proxy.logs.text)")
        #expect(!proxy.logs.text.contains("\(method)-Pa55"))
    }

    @Test func loginsThatFindTheCacheEmptyAtOnceShareOneRequest() async throws {
        try superuser("ALTER ROLE \(Self.role) LOGIN PASSWORD 'shared-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("shared-Pa55")]])
        let proxy = try await start(fake)
        defer { proxy.stop() }
        let connection = "host=127.0.0.1 port=\(proxy.port) dbname=\(env.postgres.database) user=\(Self.role) sslmode=disable connect_timeout=20"
        let result = try runProcess("/bin/sh", ["-c", "for i in $(seq 20); do psql '\(connection)' -XAtqc 'SELECT 1' & done; wait"])
        #expect(result.stdout == String(repeating: "1\n", count: 20), "\(result.stderr)\n\(proxy.logs.text.suffix(2_000))")
        #expect(fake.outcomes == ["ok"], "20 logins at once, one GetSecretValue")
    }

    @Test func midRotationTheDatabaseMayAlreadyHoldThePendingPassword() async throws {
        // Between a rotation's setSecret and finishSecret the database has AWSPENDING's password.
        try superuser("ALTER ROLE \(Self.role) LOGIN PASSWORD 'pending-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("current-Pa55"), "AWSPENDING": Self.secretJSON("pending-Pa55")]])
        let proxy = try await start(fake)
        defer { proxy.stop() }
        let result = try proxy.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(result.status == 0, "\(result.stderr)\n\(proxy.logs.text)")
        #expect(fake.stages == ["AWSCURRENT", "AWSCURRENT", "AWSPENDING"], "refused, fetched again (the same), then the pending version")
        // The pending password is now the cached one: the next login costs no request.
        let again = try proxy.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(again.status == 0 && fake.stages.count == 3, "\(again.stderr)")
    }

    @Test func anotherUserThanTheSecretsIsAnAuthorizationFailure() async throws {
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("first-Pa55")]])
        let proxy = try await ProxyHarness.start(
            env, identity: env.longTerm, extraEnvironment: fake.listener(user: Self.role).environment,
            listenerYAML: "auth: secret\nusers: [\(Self.role), \(env.postgres.password_user)]\nsecret: {secret_id: app/db, region: us-east-1}")
        defer { proxy.stop() }
        let result = try proxy.psql(env, user: env.postgres.password_user, ["-c", "SELECT 1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("iam-db-proxy secret app/db holds the password of another user than \(env.postgres.password_user)"), "\(result.stderr)")
        #expect(proxy.logs.text.contains("sqlstate=28000"), "\(proxy.logs.text)")
    }

    @Test func channelBindingToASHA384SignedCertificate() async throws {
        // As RDS's ECC certificate authorities sign: a P-384 key, the certificate signed with SHA-384
        // (by the test CA), so tls-server-end-point must hash with SHA-384; SHA-256 would be refused.
        let folder = try LoopbackScript.temporaryFolder("sha384-cert-")
        let ca = env.dir + "/ca"
        for command in [
            ["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", folder + "/server.key"],
            ["req", "-new", "-key", folder + "/server.key", "-subj", "/CN=localhost", "-out", folder + "/server.csr"],
            ["x509", "-req", "-sha384", "-in", folder + "/server.csr", "-CA", ca + "/ca.pem", "-CAkey", ca + "/ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", ca + "/server.ext", "-out", folder + "/server.pem"],
        ] {
            let result = try runProcess("/usr/bin/openssl", command)
            try #require(result.status == 0, "\(result.stderr)")
        }
        let text = try runProcess("/usr/bin/openssl", ["x509", "-in", folder + "/server.pem", "-noout", "-text"]).stdout
        try #require(text.contains("Signature Algorithm: sha384WithRSAEncryption"))
        let server = try TemporaryPostgres(port: try await ProxyHarness.freePort(), certificate: folder + "/server.pem", key: folder + "/server.key")
        try server.sql("CREATE ROLE \(Self.role) LOGIN PASSWORD 'bound-Pa55'")
        try server.sql("CREATE DATABASE \(env.postgres.database)")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("bound-Pa55")]])
        let listener = fake.listener(user: Self.role)
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment, listenerYAML: listener.yaml,
                                                 upstream: "localhost:\(server.port)")
        defer { proxy.stop() }
        let result = try proxy.psql(env, user: Self.role, ["-c", "SELECT current_user"])
        #expect(result.status == 0 && result.stdout == "\(Self.role)\n", "\(result.stderr)\n\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("auth=SCRAM-SHA-256-PLUS"), "\(proxy.logs.text)")
    }

    @Test func checkConnectSaysWhichSecretEachListenerUsesAndWhetherItCouldBeRead() throws {
        try superuser("ALTER ROLE \(Self.role) LOGIN PASSWORD 'checked-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("checked-Pa55")]])
        let listener = { (name: String, secret: String, port: Int) in
            "  - {name: \(name), engine: postgres, listen: 127.0.0.1:\(port), upstream: localhost:\(env.postgres.port), users: [\(Self.role)], iam_region: us-east-1,"
                + " auth: secret, secret: {secret_id: \(secret), region: us-east-1}, tls: {ca_file: \(env.ca_file)}}\n"
        }
        let result = try env.checkConnect(listener("good", "app/db", 1) + listener("missing", "app/missing", 2),
                                          environment: fake.listener(user: Self.role).environment)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("listener good: ok, logged in to localhost:\(env.postgres.port) as \(Self.role) with the password in Secrets Manager secret app/db (AWSCURRENT) over TLS"),
                "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("listener missing: FATAL 08001: iam-db-proxy could not read the password from Secrets Manager: secret app/missing: ResourceNotFoundException"),
                "\(result.stdout)\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains("checked-Pa55"))
    }

    @Test(arguments: [
        ("deny", "AccessDeniedException: User is not authorized to perform: secretsmanager:GetSecretValue"),
        ("undecryptable", "DecryptionFailure: Secrets Manager can't decrypt"),
        ("binary", "SecretBinary: the secret is binary"),
        ("not JSON", "BadSecret: the SecretString is not JSON with \"username\" and \"password\""),
        ("endpoint down", "Unreachable: Secrets Manager at http://127.0.0.1:1"),
    ])
    func everySecretProblemIsNamedToTheClient(problem: String, expected: String) async throws {
        let entry: Any = switch problem {
        case "deny", "undecryptable": problem
        case "binary": ["AWSCURRENT": ["binary": "bm90IHNob3du"]]
        default: ["AWSCURRENT": #"{"user": "secret_user", "pass": "never-Pa55"}"#]
        }
        let fake = try FakeSecretsManager(secrets: ["app/db": entry])
        var listener = fake.listener(user: Self.role)
        if problem == "endpoint down" { listener.environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://127.0.0.1:1" }
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: listener.environment, listenerYAML: listener.yaml)
        defer { proxy.stop() }
        let result = try proxy.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("iam-db-proxy could not read the password from Secrets Manager: secret app/db: \(expected)"), "\(result.stderr)")
        // The session's own line says the same, for the operator.
        #expect(proxy.logs.text.contains("secret app/db: \(expected.prefix(20))"), "\(proxy.logs.text)")
    }
}

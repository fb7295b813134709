import TestSupport
import AWSAuth
import Foundation
import Testing

/// The local servers behave like RDS for IAM users: a valid token over verified TLS logs in,
/// a wrong token gets RDS's own error, and plaintext is refused. Tokens come from boto3 (the
/// reference implementation) and from our signer.
@Suite(.needsTestEnvironment, .serialized) struct RDSLikeServerTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func boto3Token(host: String, port: Int, user: String, identity: TestEnvironment.Identity) throws -> String {
        let script = """
            import sys, boto3
            key, secret, token, host, port, user, region = sys.stdin.read().split("\\n")[:7]
            session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token or None, region_name=region)
            print(session.client("rds").generate_db_auth_token(host, int(port), user))
            """
        let input = [identity.access_key_id, identity.secret_access_key, identity.session_token ?? "", host, String(port), user, env.region].joined(separator: "\n")
        let result = try runProcess("/usr/bin/env", ["python3", "-c", script], input: input)
        try #require(result.status == 0, "boto3 failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func psql(_ sslmode: String, user: String, password: String, query: String = "SELECT current_user || ',' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") throws -> (status: Int32, stdout: String, stderr: String) {
        let pg = env.postgres
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        return try runProcess("/usr/bin/psql", [
            "host=localhost port=\(pg.port) dbname=\(pg.database) user=\(user) sslmode=\(sslmode) sslrootcert=\(env.ca_file) connect_timeout=10",
            "-AtXc", query,
        ], environment: environment)
    }

    func mariadb(ssl: Bool, user: String, password: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let my = env.mysql
        var arguments = ["--protocol=tcp", "-h", "localhost", "-P", String(my.port), "-u", user, "--password=\(password)", "-N", "-B",
                         "-e", "SELECT CONCAT(CURRENT_USER(), ',', VARIABLE_VALUE) FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'", my.database]
        arguments += ssl ? ["--ssl-ca=\(env.ca_file)", "--ssl-verify-server-cert"] : ["--skip-ssl"]
        return try runProcess("/usr/bin/mariadb", arguments)
    }

    @Test(arguments: ["long-term", "temporary"])
    func postgresAcceptsBoto3TokenOverVerifiedTLS(identityName: String) throws {
        let identity = try #require(env.identities.first { $0.name == identityName })
        let token = try boto3Token(host: "localhost", port: env.postgres.port, user: env.postgres.iam_user, identity: identity)
        let before = env.verdictLogSize
        let result = try psql("verify-full", user: env.postgres.iam_user, password: token)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(env.postgres.iam_user),true")
        #expect(env.verdicts(after: before).contains { $0.contains(#""ok": true"#) && $0.contains(identity.access_key_id) })
    }

    @Test func postgresAcceptsOurSignerToken() throws {
        let token = RDSAuthToken.make(
            for: RDSTokenRequest(host: "localhost", port: env.postgres.port, user: env.postgres.iam_user, region: env.region),
            credentials: env.temporary.credentials, date: Date())
        #expect(token.utf8.count > 512, "a session-token token must exceed pam_exec's 512-byte limit to prove the verifier sees it whole")
        let result = try psql("verify-full", user: env.postgres.iam_user, password: token)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func postgresRejectsWrongTokens() throws {
        let good = try boto3Token(host: "localhost", port: env.postgres.port, user: env.postgres.iam_user, identity: env.longTerm)
        let wrongUser = try boto3Token(host: "localhost", port: env.postgres.port, user: env.postgres.iam_other_user, identity: env.longTerm)
        let wrongHost = try boto3Token(host: "otherhost", port: env.postgres.port, user: env.postgres.iam_user, identity: env.longTerm)
        var tampered = Array(good)
        tampered[tampered.count - 1] = tampered.last == "0" ? "1" : "0"
        for token in [String(tampered), wrongUser, wrongHost, "not-a-token"] {
            let result = try psql("verify-full", user: env.postgres.iam_user, password: token)
            #expect(result.status != 0)
            #expect(result.stderr.contains(#"FATAL:  PAM authentication failed for user "\#(env.postgres.iam_user)""#), "\(result.stderr)")
        }
    }

    @Test func postgresRejectsPlaintextForIAMUsers() throws {
        let token = try boto3Token(host: "localhost", port: env.postgres.port, user: env.postgres.iam_user, identity: env.longTerm)
        let result = try psql("disable", user: env.postgres.iam_user, password: token)
        #expect(result.status != 0)
        #expect(result.stderr.contains("pg_hba.conf rejects connection"), "\(result.stderr)")
    }

    @Test(arguments: ["long-term", "temporary"])
    func mariadbAcceptsBoto3TokenOverVerifiedTLS(identityName: String) throws {
        let identity = try #require(env.identities.first { $0.name == identityName })
        let token = try boto3Token(host: "localhost", port: env.mysql.port, user: env.mysql.iam_user, identity: identity)
        let result = try mariadb(ssl: true, user: env.mysql.iam_user, password: token)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("\(env.mysql.iam_user)@%,TLSv1."), "\(result.stdout)")
    }

    @Test func mariadbRejectsWrongTokenAndPlaintext() throws {
        let good = try boto3Token(host: "localhost", port: env.mysql.port, user: env.mysql.iam_user, identity: env.longTerm)
        let wrongUser = try boto3Token(host: "localhost", port: env.mysql.port, user: env.mysql.iam_other_user, identity: env.longTerm)
        for token in [good + "0", wrongUser] {
            let result = try mariadb(ssl: true, user: env.mysql.iam_user, password: token)
            #expect(result.status != 0)
            #expect(result.stderr.contains("ERROR 1045 (28000)"), "\(result.stderr)")
        }
        let plaintext = try mariadb(ssl: false, user: env.mysql.iam_user, password: good)
        #expect(plaintext.status != 0)
        #expect(plaintext.stderr.contains("ERROR 1045 (28000)"), "\(plaintext.stderr)")
    }
}

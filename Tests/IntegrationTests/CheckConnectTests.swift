import Foundation
import TestSupport
import Testing

/// `check --connect` logs in through every listener with a fresh token and prints one line
/// per listener: ok, or the reason.
@Suite(.needsTestEnvironment, .serialized) struct CheckConnectTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func check(_ listeners: String, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try env.checkConnect(listeners, extra)
    }

    /// A listener line; its listen port is never bound (check --connect uses private ports).
    func listener(_ name: String, _ engine: String, upstream: String, users: String? = "[iam_user]") -> String {
        "  - {name: \(name), engine: \(engine), listen: 127.0.0.1:\(abs(name.hashValue % 60_000) + 1), upstream: \(upstream),"
            + " iam_region: \(env.region), \(users.map { "users: \($0), " } ?? "")tls: {ca_file: \(env.ca_file)}}\n"
    }

    @Test func everyListenerLogsInAndExitsZero() throws {
        let offset = env.verdictLogSize
        let result = try check(listener("pg", "postgres", upstream: "localhost:\(env.postgres.port)")
            + listener("my", "mysql", upstream: "localhost:\(env.mysql.port)"))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("listener pg: ok, logged in to localhost:\(env.postgres.port) as iam_user with an IAM auth token over TLS (verify-full)"), "\(result.stdout)")
        #expect(result.stdout.contains("listener my: ok, logged in to localhost:\(env.mysql.port) as iam_user"), "\(result.stdout)")
        // Both logins were verified by the server's token check.
        #expect(env.verdicts(after: offset).filter { $0.contains("\"ok\": true") }.count == 2)
    }

    @Test func eachFailingListenerSaysWhyAndTheExitCodeIsOne() throws {
        let result = try check(listener("pg", "postgres", upstream: "localhost:\(env.postgres.port)")
            + listener("down", "postgres", upstream: "127.0.0.1:1")
            + listener("nobody", "mysql", upstream: "localhost:\(env.mysql.port)", users: "[pw_user]"))
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("listener pg: ok"), "\(result.stdout)")
        #expect(result.stdout.contains("listener down: FATAL 08001: cannot connect to 127.0.0.1:1"), "\(result.stdout)")
        #expect(result.stdout.contains("listener nobody: ERROR 1045 (28000)"), "\(result.stdout)")
        #expect(result.stdout.contains("(pw_user's password: an IAM auth token)"), "\(result.stdout)")
    }

    @Test func aListenerWithoutAUserIsSkippedUnlessOneIsGiven() throws {
        let listeners = listener("pg", "postgres", upstream: "localhost:\(env.postgres.port)", users: nil)
        let skipped = try check(listeners)
        #expect(skipped.stdout.contains("listener pg: skipped: no user to log in as"), "\(skipped.stdout)")
        #expect(skipped.status == 1)
        let given = try check(listeners, ["--user", "iam_user", "--database", "appdb"])
        #expect(given.status == 0, "\(given.stdout)\(given.stderr)")
    }
}

extension TestEnvironment {
    /// `iam-db-proxy check --connect` with a file of these listener lines, as the long-term identity.
    func checkConnect(_ listeners: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let path = NSTemporaryDirectory() + "check-\(UUID().uuidString).yaml"
        try "listeners:\n\(listeners)".write(toFile: path, atomically: true, encoding: .utf8)
        return try runProcess(TokenCommandTests.executable, ["check", "--config", path, "--connect"] + extra, environment: [
            "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": longTerm.access_key_id, "AWS_SECRET_ACCESS_KEY": longTerm.secret_access_key,
        ].merging(environment) { $1 })
    }
}

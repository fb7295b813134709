import Foundation
import TestSupport
import Testing

/// `--log-format json`: every line of the proxy's log is one JSON object with stable keys, and
/// a session gives one line when it is logged in and one when it closes.
@Suite(.needsTestEnvironment, .serialized) struct LogFormatTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test func aProxyThatCannotStartSaysWhyInJSONToo() throws {
        let result = try runProcess(ProxyHarness.executable, ["--log-format", "json", "--upstream", "db.example", "--tls-mode", "sometimes"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stderr.utf8)) as? [String: Any], "\(result.stderr)")
        #expect(object["level"] as? String == "critical")
        #expect((object["msg"] as? String)?.contains("--tls-mode: must be verify-full, verify-ca or require") == true, "\(object)")
    }

    @Test func everyLineIsAJSONObjectWithTheStableKeys() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: ["IAM_DB_PROXY_LOG_FORMAT": "json"],
                                                 listenerYAML: "users: [iam_user]")
        defer { proxy.stop() }
        #expect(try proxy.psql(env, ["-c", "SELECT 1"]).status == 0)
        #expect(try proxy.psql(env, user: env.postgres.iam_other_user, ["-c", "SELECT 1"]).status != 0)
        proxy.sendSIGTERM()
        _ = proxy.waitForExit()
        let lines = proxy.logs.text.split(separator: "\n").map(String.init)
        let objects = try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        #expect(objects.allSatisfy { $0["time"] is String && $0["level"] is String && $0["msg"] is String })
        let loggedIn = objects.filter { $0["msg"] as? String == "session logged in" }
        let closed = objects.filter { $0["msg"] as? String == "connection closed" }
        #expect(loggedIn.count == 1 && closed.count == 2)
        for key in ["listener", "conn", "client", "upstream", "user", "db", "duration_ms"] {
            #expect(loggedIn.first?[key] != nil, "login line lacks \(key)")
        }
        let clean = try #require(closed.first { $0["user"] as? String == "iam_user" })
        #expect(clean["bytes_up"] != nil && clean["bytes_down"] != nil && clean["error"] == nil)
        let refused = try #require(closed.first { $0["error"] != nil })
        #expect((refused["error"] as? String)?.contains("iam_other") == true, "\(refused)")
        #expect(refused["listener"] as? String == "pg" && refused["client"] != nil)
    }
}

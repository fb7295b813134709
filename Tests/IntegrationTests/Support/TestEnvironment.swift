import AWSAuth
import Foundation
import Testing

/// The local RDS-like servers started by `testenv/start.sh`, as described by the
/// `testenv.json` it writes. When it is absent the integration tests are skipped, unless
/// `IAM_DB_PROXY_REQUIRE_TESTENV=1` (set by the test command) makes that a failure.
struct TestEnvironment: Decodable {
    struct Server: Decodable {
        var host: String
        var port: Int
        var database: String
        var iam_user: String
        var iam_other_user: String
        var password_user: String
        var password: String
        var trust_user: String?
    }

    struct Identity: Decodable {
        var name: String
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?

        var credentials: AWSCredentials {
            AWSCredentials(accessKeyID: access_key_id, secretAccessKey: secret_access_key, sessionToken: session_token)
        }
    }

    var dir: String
    var ca_file: String
    var verdict_log: String
    var revoked_list: String
    var rds_like_host: String
    var region: String
    var postgres: Server
    var mysql: Server
    var identities: [Identity]

    static let path = (ProcessInfo.processInfo.environment["IAM_DB_PROXY_TESTENV"] ?? "/tmp/iam-db-proxy-testenv") + "/testenv.json"
    static let required = ProcessInfo.processInfo.environment["IAM_DB_PROXY_REQUIRE_TESTENV"] == "1"
    static let isAvailable = required || FileManager.default.fileExists(atPath: path)

    static func load() throws -> TestEnvironment {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TestEnvironmentMissing()
        }
        return try JSONDecoder().decode(TestEnvironment.self, from: data)
    }

    var longTerm: Identity { identities.first { $0.session_token == nil }! }
    var temporary: Identity { identities.first { $0.session_token != nil }! }

    /// The verifier's verdict lines written after `offset` (read the size first, act, then read).
    func verdicts(after offset: UInt64) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: verdict_log) else { return [] }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The distinct tokens (by fingerprint) the server saw after `offset`.
    func tokenFingerprints(after offset: UInt64) -> [String] {
        var seen: [String] = []
        for line in verdicts(after: offset) {
            guard let range = line.range(of: #""fp": ""#) else { continue }
            let fingerprint = String(line[range.upperBound...].prefix(16))
            if !seen.contains(fingerprint) { seen.append(fingerprint) }
        }
        return seen
    }

    /// Makes the server refuse the token with this fingerprint (nil: refuse none).
    func revoke(fingerprint: String?) throws {
        try (fingerprint.map { $0 + "\n" } ?? "").write(toFile: revoked_list, atomically: false, encoding: .utf8)
    }

    var verdictLogSize: UInt64 {
        (try? FileManager.default.attributesOfItem(atPath: verdict_log)[.size] as? UInt64) ?? 0
    }
}

struct TestEnvironmentMissing: Error, CustomStringConvertible {
    var description: String { "no local RDS-like servers: run `sudo testenv/start.sh` (missing \(TestEnvironment.path))" }
}

extension Trait where Self == ConditionTrait {
    static var needsTestEnvironment: ConditionTrait {
        .enabled(if: TestEnvironment.isAvailable, "local RDS-like servers not running (testenv/start.sh)")
    }
}

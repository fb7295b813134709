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

    /// The fake service and the file of secrets it reads on every request.
    final class FakeSecretsManager {
        let process = Process()
        let secretsFile: String
        let port: Int

        init(secrets: [String: [String: String]]) throws {
            let folder = NSTemporaryDirectory() + "fake-sm-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            secretsFile = folder + "/secrets.json"
            let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            // Through the launcher that clears the signal mask a test thread would pass on, so terminate() stops it.
            process.executableURL = URL(fileURLWithPath: signalResettingLauncher[0])
            process.arguments = Array(signalResettingLauncher.dropFirst()) + ["/usr/bin/env", "python3", repository.appendingPathComponent("testenv/fake_secrets_manager.py").path,
                                 repository.appendingPathComponent("testenv/credentials.json").path, secretsFile, folder + "/port"]
            let output = Pipe()
            process.standardOutput = output
            try Self.write(secrets, to: secretsFile)
            try process.run()
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw HarnessError(description: "the fake Secrets Manager did not start") }
                line += chunk
            }
            port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }

        static func write(_ secrets: [String: [String: String]], to file: String) throws {
            try JSONSerialization.data(withJSONObject: secrets).write(to: URL(fileURLWithPath: file), options: .atomic)
        }

        func rotate(_ secrets: [String: [String: String]]) throws { try Self.write(secrets, to: secretsFile) }

        /// The outcomes of the requests so far (`ok`, or the AWS error it answered).
        var outcomes: [String] {
            ((try? String(contentsOfFile: secretsFile + ".log", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["outcome"] as? String
            }
        }

        deinit {
            process.terminate()
            process.waitUntilExit()
        }
    }

    static func secretJSON(_ password: String) -> String { #"{"username":"\#(role)","password":"\#(password)","engine":"postgres"}"# }

    /// SQL as the servers' superuser, to make and rotate the role.
    func superuser(_ sql: String) throws {
        let result = try runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", "psql", "-h", env.dir + "/pg/run", "-p", "\(env.postgres.port)",
                                                          "-U", "postgres", "-d", "postgres", "-qAtc", sql])
        try #require(result.status == 0, "\(result.stderr)")
    }

    func start(_ fake: FakeSecretsManager, secretID: String = "app/db", identity: TestEnvironment.Identity? = nil) async throws -> ProxyHarness {
        try await ProxyHarness.start(env, identity: identity ?? env.longTerm,
                                     extraEnvironment: ["AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:\(fake.port)"],
                                     listenerYAML: "auth: secret\nusers: [\(Self.role)]\nsecret: {secret_id: \"\(secretID)\", region: us-east-1, cache_seconds: 300}")
    }

    @Test func theSecretsPasswordAnswersSCRAMAndARotationCostsOneRetry() async throws {
        try superuser("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(Self.role)') THEN CREATE ROLE \(Self.role) LOGIN; END IF; END $$;"
                      + " ALTER ROLE \(Self.role) LOGIN PASSWORD 'first-Pa55'")
        let fake = try FakeSecretsManager(secrets: ["app/db": ["AWSCURRENT": Self.secretJSON("first-Pa55")]])
        let proxy = try await start(fake)
        defer { proxy.stop() }
        let first = try proxy.psql(env, user: Self.role, ["-c", "SELECT current_user"])
        #expect(first.status == 0 && first.stdout == "\(Self.role)\n", "\(first.stderr)\n\(proxy.logs.text)")
        #expect(fake.outcomes == ["ok"], "one signed GetSecretValue, its signature accepted")

        // A rotation: the server's password and the secret change; open sessions are not involved.
        try superuser("ALTER ROLE \(Self.role) PASSWORD 'second-Pa55'")
        try fake.rotate(["app/db": ["AWSCURRENT": Self.secretJSON("second-Pa55")]])
        let afterRotation = try proxy.psql(env, user: Self.role, ["-c", "SELECT 1"])
        #expect(afterRotation.status == 0, "the cached password is refused once, the secret fetched again: \(afterRotation.stderr)\n\(proxy.logs.text)")
        #expect(fake.outcomes == ["ok", "ok"])
        for secret in ["first-Pa55", "second-Pa55"] {
            #expect(!proxy.logs.text.contains(secret), "a secret value reached the log")
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
}

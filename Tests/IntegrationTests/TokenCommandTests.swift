import TestSupport
import Foundation
import Testing

/// `iam-db-proxy token`, run as the built executable.
@Suite struct TokenCommandTests {
    static var executable: String {
        let testBinary = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0])
        var folder = testBinary.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("iam-db-proxy").path) && folder.path != "/" {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("iam-db-proxy").path
    }

    func isolatedEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        let home = NSTemporaryDirectory() + "iam-db-proxy-home-" + UUID().uuidString
        return ["HOME": home, "PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 }
    }

    @Test func noCredentialsNamesEachProvider() throws {
        let result = try runProcess(Self.executable, ["token", "--host", "db.abc.us-east-1.rds.amazonaws.com", "--port", "5432", "--user", "u"],
                                    environment: isolatedEnvironment())
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        for provider in ["environment", "sso", "shared-credentials-file", "container", "imds"] {
            #expect(result.stderr.contains(provider), "\(result.stderr)")
        }
    }

    @Test func noRegionAsksForRegionFlag() throws {
        let result = try runProcess(Self.executable, ["token", "--host", "localhost", "--port", "5432", "--user", "u"],
                                    environment: isolatedEnvironment(["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"]))
        #expect(result.status != 0)
        #expect(result.stderr.contains("--region"), "\(result.stderr)")
    }

    @Test func versionAndHelp() throws {
        let version = try runProcess(Self.executable, ["version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("iam-db-proxy "))
        let help = try runProcess(Self.executable, ["--help"])
        #expect(help.status == 0 && help.stdout.contains("token"))
    }

    @Test(.needsTestEnvironment) func printedTokenLogsPsqlIn() throws {
        let env = try TestEnvironment.load()
        let identity = env.temporary
        let result = try runProcess(Self.executable, [
            "token", "--host", "localhost", "--port", String(env.postgres.port), "--user", env.postgres.iam_user, "--region", env.region,
        ], environment: isolatedEnvironment([
            "AWS_ACCESS_KEY_ID": identity.access_key_id, "AWS_SECRET_ACCESS_KEY": identity.secret_access_key,
            "AWS_SESSION_TOKEN": identity.session_token ?? "",
        ]))
        try #require(result.status == 0, "\(result.stderr)")
        var psqlEnvironment = ProcessInfo.processInfo.environment
        psqlEnvironment["PGPASSWORD"] = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let login = try runProcess("/usr/bin/psql", [
            "host=localhost port=\(env.postgres.port) dbname=\(env.postgres.database) user=\(env.postgres.iam_user) sslmode=verify-full sslrootcert=\(env.ca_file)",
            "-AtXc", "SELECT current_user",
        ], environment: psqlEnvironment)
        #expect(login.status == 0, "\(login.stderr)")
        #expect(login.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == env.postgres.iam_user)
    }
}

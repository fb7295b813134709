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
        let unnamed = try runProcess(Self.executable, ["token", "--hostname", "db.abc.us-east-1.rds.amazonaws.com", "--port", "5432"])
        #expect(unnamed.status != 0 && unnamed.stderr.contains("--user (or --username) is required for an RDS token"), "\(unnamed.stderr)")
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

    /// Explicit rules, where boto3 is loose: an empty user (`--user ""` and `--user=` alike) or
    /// host, a host with a port, and a bare IPv6 address are refused with what to give instead.
    @Test func hostAndUserAreCheckedBeforeSigning() throws {
        let keys = isolatedEnvironment(["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"])
        let refused: [([String], String)] = [
            (["--host", "db.abc.us-east-1.rds.amazonaws.com", "--port", "5432", "--user", ""], "--user must not be empty"),
            (["--host", "db.abc.us-east-1.rds.amazonaws.com", "--port", "5432", "--user="], "--user must not be empty"),
            (["--host", "", "--port", "5432", "--user", "u"], "--host must not be empty"),
            (["--host", "db.abc.us-east-1.rds.amazonaws.com:9999", "--port", "5432", "--user", "u"], "--host takes no port (give --port 9999"),
            (["--host", "::1", "--port", "5432", "--user", "u", "--region", "us-east-1"], "--host an IPv6 address goes in brackets: [::1]"),
        ]
        for (arguments, message) in refused {
            let result = try runProcess(Self.executable, ["token"] + arguments, environment: keys)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let bracketed = try runProcess(Self.executable, ["token", "--host", "[::1]", "--port", "5432", "--user", "u", "--region", "us-east-1"], environment: keys)
        #expect(bracketed.status == 0 && bracketed.stdout.hasPrefix("[::1]:5432/?Action=connect"), "\(bracketed)")
    }

    /// The host's region wins over AWS_REGION (botocore would sign for AWS_REGION and the server
    /// would refuse the token); the token goes to stdout as ever and a note to stderr.
    @Test func aHostRegionThatDisagreesWithTheEnvironmentIsNoted() throws {
        let result = try runProcess(Self.executable, ["token", "--host", "db.abc.us-east-1.rds.amazonaws.com", "--port", "5432", "--user", "u"],
                                    environment: isolatedEnvironment(["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"]))
        #expect(result.status == 0 && result.stdout.contains("us-east-1%2Frds-db%2Faws4_request"), "\(result)")
        #expect(result.stderr.contains("signing for us-east-1, the region in db.abc.us-east-1.rds.amazonaws.com, not eu-west-1"), "\(result.stderr)")
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

/// `iam-db-proxy check`: a bad file is reported with file, line, key and what to do.
@Suite struct CheckCommandTests {
    func write(_ yaml: String) throws -> String {
        let path = NSTemporaryDirectory() + "check-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func validFileExitsZero() throws {
        let path = try write("listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: db.abc.us-east-1.rds.amazonaws.com}\n")
        let result = try runProcess(TokenCommandTests.executable, ["check", "--config", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok (1 listener)"))
    }

    @Test func whatAListenerExposesIsSaidButValid() throws {
        let path = try write("""
            listeners:
              - {name: open, listen: 0.0.0.0:1, allow_remote: true, upstream: db.abc.us-east-1.rds.amazonaws.com, tls: {mode: require}}
            """)
        let result = try runProcess(TokenCommandTests.executable, ["check", "--config", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: listener open: listening beyond loopback without client_tls"), "\(result.stderr)")
        #expect(result.stderr.contains("warning: listener open: tls.mode require: the server certificate is not checked"), "\(result.stderr)")
    }

    @Test func unknownKeyNamesFileLineAndKey() throws {
        let path = try write("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    tsl: {mode: require}\n")
        let result = try runProcess(TokenCommandTests.executable, ["check", "--config", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path):5: listeners[0].tsl: unknown key"), "\(result.stderr)")
    }

    @Test func unresolvableRegionIsReported() throws {
        let path = try write("listeners:\n  - {name: local, engine: postgres, listen: 127.0.0.1:1, upstream: 10.0.0.5:5432}\n")
        let result = try runProcess(TokenCommandTests.executable, ["check", "--config", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("listener local: cannot tell the AWS region"), "\(result.stderr)")
    }
}

/// Settings from IAM_DB_PROXY_* variables, and flags winning over them.
@Suite struct EnvironmentSettingsTests {
    @Test func environmentConfiguresAndFlagsWin() throws {
        let base = ["PATH": "/usr/bin:/bin", "IAM_DB_PROXY_UPSTREAM": "10.1.2.3:5432", "IAM_DB_PROXY_LOG_FORMAT": "yaml"]
        let bad = try runProcess(TokenCommandTests.executable, ["run"], environment: base)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("IAM_DB_PROXY_LOG_FORMAT"), "\(bad.stderr)")
        // A flag overrides the bad environment value; the environment's upstream (an IP, no
        // region) is then what fails, showing it was read.
        let region = try runProcess(TokenCommandTests.executable, ["run", "--log-format", "text", "--listen", "127.0.0.1:0"], environment: base)
        #expect(region.status != 0)
        #expect(region.stderr.contains("cannot tell the AWS region from host 10.1.2.3"), "\(region.stderr)")
    }
}

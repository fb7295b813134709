import Foundation
import Testing

@testable import IAMDBProxy

/// Flags and IAM_DB_PROXY_* variables over the file: precedence, the same checks and defaults
/// as the file's keys, errors that name the flag or variable, and old spellings that still work.
@Suite struct ConfigurationOverlayTests {
    typealias Setting = ConfigurationOverlay.Setting

    static func file(_ yaml: String) throws -> String {
        let path = NSTemporaryDirectory() + "overlay-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let fileYAML = """
        aws: {region: eu-west-1, profile: from-file}
        http: {listen: "127.0.0.1:9090", admin_token: "0123456789abcdef-file"}
        listeners:
          - {name: pg, engine: postgres, listen: "127.0.0.1:5432", upstream: "db.example:5432"}
        """

    @Test func aFlagWinsOverItsVariableWhichWinsOverTheFile() throws {
        let path = try Self.file(Self.fileYAML)
        let environment = ["IAM_DB_PROXY_REGION": "us-west-2", "IAM_DB_PROXY_PROFILE": "from-env", "AWS_REGION": "ap-south-1"]
        let fromEnvironment = try ConfigurationOverlay(flags: [.config: path], environment: environment).configuration().configuration
        #expect(fromEnvironment.aws == .init(region: "us-west-2", profile: "from-env"))
        let fromFlags = try ConfigurationOverlay(flags: [.config: path, .region: "sa-east-1"], environment: environment).configuration().configuration
        #expect(fromFlags.aws.region == "sa-east-1" && fromFlags.aws.profile == "from-env")
        let fromFile = try ConfigurationOverlay(flags: [.config: path], environment: ["AWS_REGION": "ap-south-1"]).configuration().configuration
        #expect(fromFile.aws.region == "eu-west-1", "the file's region beats the SDK variable")
        let fromSDK = try ConfigurationOverlay(flags: [.upstream: "db.example"], environment: ["AWS_DEFAULT_REGION": "ca-central-1"])
            .configuration().configuration
        #expect(fromSDK.aws.region == "ca-central-1")
    }

    @Test func sessionReuseAndRoleFlagsAreTheListenersKeys() throws {
        let read = try ConfigurationOverlay(flags: [.upstream: "db.example", .sessionReuse: "reuse", .role: "reader"], environment: [:])
            .configuration().configuration
        #expect(read.listeners.first?.sessionReuse.mode == .reuse && read.listeners.first?.effectiveRole == .reader)
        // Unless told, an Aurora reader endpoint is for reading, anything else for writing.
        let readerEndpoint = try ConfigurationOverlay(flags: [.upstream: "mydb.cluster-ro-abc123xyz.us-east-1.rds.amazonaws.com"], environment: [:])
            .configuration().configuration
        #expect(readerEndpoint.listeners.first?.role == nil && readerEndpoint.listeners.first?.effectiveRole == .reader)
        let writerEndpoint = try ConfigurationOverlay(flags: [.upstream: "mydb.cluster-abc123xyz.us-east-1.rds.amazonaws.com"], environment: [:])
            .configuration().configuration
        #expect(writerEndpoint.listeners.first?.effectiveRole == .writer)
        let fromVariable = try ConfigurationOverlay(flags: [.upstream: "db.example"], environment: ["IAM_DB_PROXY_SESSION_REUSE": "reuse"])
            .configuration().configuration
        #expect(fromVariable.listeners.first?.sessionReuse.mode == .reuse)
        #expect { try ConfigurationOverlay(flags: [.upstream: "db.example", .sessionReuse: "always"], environment: [:]).configuration() } throws: {
            "\($0)".contains("--session-reuse") && "\($0)".contains("must be off, warm or reuse")
        }
        #expect { try ConfigurationOverlay(flags: [.upstream: "db.example", .role: "primary"], environment: [:]).configuration() } throws: {
            "\($0)".contains("--role") && "\($0)".contains("must be writer or reader")
        }
    }

    @Test func theHTTPListenOverlayKeepsTheFilesAdminToken() throws {
        let path = try Self.file(Self.fileYAML)
        let read = try ConfigurationOverlay(flags: [.config: path, .httpListen: "127.0.0.1:9191"], environment: [:]).configuration().configuration
        #expect(read.http == .init(listen: HostAndPort(host: "127.0.0.1", port: 9191), adminToken: "0123456789abcdef-file"))
        let short = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.config: path], environment: ["IAM_DB_PROXY_ADMIN_TOKEN": "short"]).configuration()
        }
        #expect(short?.keyPath == "IAM_DB_PROXY_ADMIN_TOKEN" && short?.message.contains("at least 16 characters") == true)
        let orphan = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example"], environment: ["IAM_DB_PROXY_ADMIN_TOKEN": "0123456789abcdef"]).configuration()
        }
        #expect(orphan?.keyPath == "IAM_DB_PROXY_ADMIN_TOKEN" && orphan?.message.contains("--http-listen") == true)
    }

    /// The region order: iam_region, else the host's region, else the default one (flag,
    /// variable, file, AWS_REGION / AWS_DEFAULT_REGION, the AWS profile's). When the host's region
    /// wins over a default that says otherwise, a warning says so once.
    @Test func theHostsRegionWinsOverTheDefaultAndSaysSo() throws {
        let flags: [Setting: String] = [.upstream: "db.cluster-abc.us-east-1.rds.amazonaws.com:5432"]
        let fromVariable = try ConfigurationOverlay(flags: flags, environment: ["AWS_REGION": "eu-west-1"]).configuration()
        #expect(fromVariable.warnings.contains { $0.contains("tokens are signed for us-east-1, the region in db.cluster-abc.us-east-1.rds.amazonaws.com, not for eu-west-1 (from AWS_REGION)") },
                "\(fromVariable.warnings)")
        let agreeing = try ConfigurationOverlay(flags: flags, environment: ["AWS_REGION": "us-east-1"]).configuration()
        #expect(agreeing.warnings.isEmpty)
        // With no region anywhere else, the profile's, as botocore reads it.
        let folder = NSTemporaryDirectory() + "overlay-aws-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "[profile dev]\nregion = ap-southeast-2\n".write(toFile: folder + "/config", atomically: true, encoding: .utf8)
        let fromProfile = try ConfigurationOverlay(flags: [.upstream: "db.internal:5432"],
                                                   environment: ["AWS_CONFIG_FILE": folder + "/config", "AWS_PROFILE": "dev", "HOME": folder]).configuration()
        #expect(fromProfile.configuration.aws.region == "ap-southeast-2")
    }

    /// With flags only, SIGTERM used to cut every session at once (max_sigterm_delay 0).
    @Test func flagsAloneDrainForTwentyFiveSeconds() throws {
        let read = try ConfigurationOverlay(flags: [.upstream: "db.example"], environment: [:]).configuration().configuration
        #expect(read.minSigtermDelay == 0 && read.maxSigtermDelay == 25)
    }

    @Test func readinessChecksComeFromTheFileOrAFlagAndNeedTheAdminServer() throws {
        let path = try Self.file(Self.fileYAML)
        #expect(try ConfigurationOverlay(flags: [.config: path], environment: [:]).configuration().configuration.http?.readinessChecks == [],
                "none by default: a sidecar stays in its Service through a credentials blip")
        let both = try ConfigurationOverlay(flags: [.config: path], environment: ["IAM_DB_PROXY_READINESS_CHECKS": "credentials, connection_limit"])
            .configuration().configuration
        #expect(both.http?.readinessChecks == [.credentials, .connectionLimit])
        #expect(both.http?.adminToken == "0123456789abcdef-file", "the rest of the file's http section stays")
        let unknown = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.config: path, .readinessChecks: "credentials,upstream"], environment: [:]).configuration()
        }
        #expect(unknown?.keyPath == "--readiness-checks" && unknown?.message.contains(#"unknown check "upstream"; known: credentials, connection_limit"#) == true,
                "\(String(describing: unknown))")
        let orphan = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example", .readinessChecks: "credentials"], environment: [:]).configuration()
        }
        #expect(orphan?.keyPath == "--readiness-checks" && orphan?.message.contains("--http-listen") == true)
    }

    @Test func aListenerFromFlagsEqualsTheSameListenerFromAFile() throws {
        let flags: [Setting: String] = [
            .engine: "mysql", .upstream: "db.example", .iamRegion: "us-east-1", .caFile: "/dev/null", .tlsMode: "verify-ca", .users: "app, report",
        ]
        let fromFlags = try ConfigurationOverlay(flags: flags, environment: [:]).configuration().configuration.listeners
        let path = try Self.file("""
            listeners:
              - {name: default, engine: mysql, listen: "127.0.0.1:3306", upstream: db.example, iam_region: us-east-1,
                 tls: {mode: verify-ca, ca_file: /dev/null}, users: [app, report]}
            """)
        #expect(fromFlags == (try ConfigurationLoader.load(path: path).listeners))
        #expect(fromFlags.first?.iamExpirationSeconds == 870 && fromFlags.first?.connectTimeoutSeconds == 10, "the file's defaults")
    }

    @Test func aBadValueNamesTheFlagOrTheVariableItCameFrom() throws {
        let badFlag = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example", .tlsMode: "verify-maybe"], environment: [:]).configuration()
        }
        #expect(badFlag?.description == "command line: --tls-mode: must be verify-full, verify-ca or require (got verify-maybe)")
        let badVariable = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(environment: ["IAM_DB_PROXY_UPSTREAM": "db.example", "IAM_DB_PROXY_IAM_DEFAULT_PORT": "70000"]).configuration()
        }
        #expect(badVariable?.keyPath == "IAM_DB_PROXY_IAM_DEFAULT_PORT" && badVariable?.message.contains("1 to 65535") == true)
        let remote = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example", .listen: "0.0.0.0:5432"], environment: [:]).configuration()
        }
        #expect(remote?.keyPath == "--listen" && remote?.message.contains("not a loopback address") == true)
        let missing = #expect(throws: ConfigurationError.self) { try ConfigurationOverlay(environment: [:]).configuration() }
        #expect(missing?.keyPath == "--upstream")
    }

    @Test func theOldIAMPortSpellingStillWorksWithAWarning() throws {
        let flag = try ConfigurationOverlay(flags: [.upstream: "db.example"], deprecatedFlags: ["--iam-port": "6543"], environment: [:]).configuration()
        #expect(flag.configuration.listeners.first?.signingPort == 6543)
        #expect(flag.warnings == ["--iam-port is deprecated; use --iam-default-port"])
        let variable = try ConfigurationOverlay(flags: [.upstream: "db.example"], environment: ["IAM_DB_PROXY_IAM_PORT": "6544"]).configuration()
        #expect(variable.configuration.listeners.first?.signingPort == 6544)
        #expect(variable.warnings == ["IAM_DB_PROXY_IAM_PORT is deprecated; use IAM_DB_PROXY_IAM_DEFAULT_PORT"])
        let both = try ConfigurationOverlay(flags: [.upstream: "db.example", .iamDefaultPort: "7000"], deprecatedFlags: ["--iam-port": "6543"],
                                            environment: [:]).configuration()
        #expect(both.configuration.listeners.first?.signingPort == 7000 && both.warnings.isEmpty, "the new spelling wins")
    }

    @Test func listenerFlagsAndVariablesBesideAFileAreRefusedNotDropped() throws {
        let path = try Self.file(Self.fileYAML)
        let users = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.config: path], environment: ["IAM_DB_PROXY_USERS": "app"]).configuration()
        }
        #expect(users?.keyPath == "IAM_DB_PROXY_USERS" && users?.message.contains("set listeners[].users there") == true, "\(String(describing: users))")
        let upstream = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.config: path, .upstream: "db.example"], environment: [:]).configuration()
        }
        #expect(upstream?.keyPath == "--upstream")
    }

    @Test func eventLoopsComeFromAFlagOrVariableOverTheFile() throws {
        let path = try Self.file(Self.fileYAML + "\nevent_loops: 4\n")
        #expect(try ConfigurationOverlay(flags: [.config: path], environment: [:]).configuration().configuration.eventLoops == 4)
        #expect(try ConfigurationOverlay(flags: [.config: path], environment: ["IAM_DB_PROXY_EVENT_LOOPS": "auto"])
            .configuration().configuration.eventLoops == nil)
        #expect(try ConfigurationOverlay(flags: [.config: path, .eventLoops: "2"], environment: ["IAM_DB_PROXY_EVENT_LOOPS": "auto"])
            .configuration().configuration.eventLoops == 2)
        let bad = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example", .eventLoops: "-1"], environment: [:]).configuration()
        }
        #expect(bad?.keyPath == "--event-loops")
    }

    @Test func sigtermSettingsComeFromFlagsAndVariablesOverTheFile() throws {
        let path = try Self.file(Self.fileYAML + "\nmax_sigterm_delay: 5\n")
        let read = try ConfigurationOverlay(flags: [.config: path, .maxSigtermDelay: "30s"],
                                            environment: ["IAM_DB_PROXY_MIN_SIGTERM_DELAY": "2", "IAM_DB_PROXY_EXIT_ZERO_ON_SIGTERM": "true"])
            .configuration().configuration
        #expect(read.maxSigtermDelay == 30 && read.minSigtermDelay == 2 && read.exitZeroOnSigterm)
        let bad = #expect(throws: ConfigurationError.self) {
            try ConfigurationOverlay(flags: [.upstream: "db.example", .maxSigtermDelay: "soon"], environment: [:]).configuration()
        }
        #expect(bad?.keyPath == "--max-sigterm-delay")
    }

    @Test func aRegionThatWillFailEveryTokenIsAWarning() throws {
        let mismatch = try ConfigurationOverlay(flags: [.upstream: "db.abc.eu-west-1.rds.amazonaws.com", .iamRegion: "us-east-1"], environment: [:])
            .configuration()
        #expect(mismatch.warnings == [
            "listener default: iam_region us-east-1 differs from the region in db.abc.eu-west-1.rds.amazonaws.com (eu-west-1); "
                + "tokens are signed for us-east-1 and the server will refuse them unless iam_host is right",
        ])
        let typo = try ConfigurationOverlay(flags: [.upstream: "localhost", .iamRegion: "us-east1"], environment: [:]).configuration()
        #expect(typo.warnings == ["listener default: iam_region us-east1 does not look like an AWS region (such as us-east-1)"])
        for good in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5"] {
            #expect(try ConfigurationOverlay(flags: [.upstream: "localhost", .iamRegion: good], environment: [:]).configuration().warnings.isEmpty)
        }
    }
}

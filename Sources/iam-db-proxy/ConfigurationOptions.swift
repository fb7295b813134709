import ArgumentParser
import Logging
import Foundation
import IAMDBProxy

/// The flags that describe a configuration, shared by `run` and `check`; what they mean,
/// their variables and their precedence live in `ConfigurationOverlay`, not here. `--user`
/// is not among them: `run` takes it as an allowed user, `check` as the user to log in as.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file.")
    var config: String?

    @Option(name: .long, help: "postgres or mysql (single-listener mode).")
    var engine: String?

    @Option(name: .long, help: "Where to listen: HOST:PORT (default 127.0.0.1 and the engine's port) or unix:/path.")
    var listen: String?

    @Flag(name: .customLong("allow-remote"), help: "Allow --listen on an address other hosts can reach (IAM_DB_PROXY_ALLOW_REMOTE=true).")
    var allowRemote = false

    @Option(name: .long, help: "The database endpoint, HOST:PORT.")
    var upstream: String?

    @Option(name: .customLong("iam-host"), help: "Host name the token is signed for (default: the upstream host).")
    var iamHost: String?

    @Option(name: .customLong("iam-default-port"), help: "Port the token is signed for (default: the upstream port).")
    var iamDefaultPort: String?

    @Option(name: .customLong("iam-port"), help: .hidden)
    var deprecatedIAMPort: String?

    @Option(name: .customLong("iam-region"), help: "Region the token is signed for (default: from the host name).")
    var iamRegion: String?

    @Option(name: .customLong("tls-mode"), help: "Upstream TLS: verify-full (default), verify-ca or require.")
    var tlsMode: String?

    @Option(name: .customLong("ca-file"), help: "PEM bundle trusted in addition to the system roots (RDS global-bundle.pem).")
    var caFile: String?

    @Option(name: .customLong("server-name"), help: "Name the upstream certificate must carry, when not the upstream host.")
    var serverName: String?

    @Option(name: .customLong("role"), help: "writer (default: a login that reaches a read-only server is retried) or reader.")
    var role: String?

    @Option(name: .customLong("session-reuse"), help: "Reuse logged-in upstream sessions: off (default), warm or reuse (session_reuse.mode).")
    var sessionReuse: String?

    @Option(name: .long, help: "Default AWS region.")
    var region: String?

    @Option(name: .long, help: "AWS profile from the shared files (skips environment credentials).")
    var profile: String?

    @Option(name: .customLong("http-listen"), help: "Serve /startup, /liveness, /readiness, /metrics and POST /quitquitquit on HOST:PORT.")
    var httpListen: String?

    @Option(name: .customLong("readiness-checks"), help: "What else /readiness needs, comma-separated: credentials, connection_limit (default: none).")
    var readinessChecks: String?

    @Option(name: .customLong("min-sigterm-delay"), help: "After SIGTERM, seconds to keep accepting while readiness says no (default 0).")
    var minSigtermDelay: String?

    @Option(name: .customLong("max-sigterm-delay"), help: "Then seconds open sessions may take to finish before they are ended (default 25).")
    var maxSigtermDelay: String?

    @Flag(name: .customLong("exit-zero-on-sigterm"), help: "Exit 0 after SIGTERM even when sessions had to be closed.")
    var exitZeroOnSigterm = false

    @Option(name: .customLong("event-loops"), help: "Threads relaying sessions: auto (half the cores, at least 1, the default) or a number.")
    var eventLoops: String?

    /// `users`: the allowed users given on the command line (`run --user`).
    func overlay(users: [String] = []) -> ConfigurationOverlay {
        let given: [(ConfigurationOverlay.Setting, String?)] = [
            (.config, config), (.engine, engine), (.listen, listen), (.upstream, upstream), (.iamHost, iamHost),
            (.iamDefaultPort, iamDefaultPort), (.iamRegion, iamRegion), (.tlsMode, tlsMode), (.caFile, caFile), (.serverName, serverName),
            (.users, users.isEmpty ? nil : users.joined(separator: ",")), (.allowRemote, allowRemote ? "true" : nil), (.role, role),
            (.sessionReuse, sessionReuse),
            (.region, region), (.profile, profile), (.httpListen, httpListen), (.readinessChecks, readinessChecks), (.minSigtermDelay, minSigtermDelay),
            (.maxSigtermDelay, maxSigtermDelay), (.exitZeroOnSigterm, exitZeroOnSigterm ? "true" : nil),
            (.eventLoops, eventLoops),
        ]
        var flags: [ConfigurationOverlay.Setting: String] = [:]
        for (setting, value) in given { flags[setting] = value }
        return ConfigurationOverlay(flags: flags, deprecatedFlags: deprecatedIAMPort.map { ["--iam-port": $0] } ?? [:],
                                    environment: ProcessInfo.processInfo.environment)
    }
}

/// How the proxy logs: taken by `run`, and by `check` so that it accepts every flag `run` does
/// (a task definition's command can be checked as written).
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info (default), notice, warning, error or critical.")
    var logLevelOption: String?

    @Option(name: .customLong("log-format"), help: "text (default) or json (one object a line).")
    var logFormatOption: String?

    var logLevel: String { Self.setting(logLevelOption, "LOG_LEVEL") ?? "info" }
    var logFormat: String { Self.setting(logFormatOption, "LOG_FORMAT") ?? "text" }

    /// A flag's value, else the `IAM_DB_PROXY_<NAME>` environment variable.
    static func setting(_ flag: String?, _ name: String) -> String? {
        if let flag { return flag }
        guard let value = ProcessInfo.processInfo.environment["IAM_DB_PROXY_" + name], !value.isEmpty else { return nil }
        return value
    }

    func validate() throws {
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format (IAM_DB_PROXY_LOG_FORMAT) must be text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level (IAM_DB_PROXY_LOG_LEVEL) must be trace, debug, info, notice, warning, error or critical")
        }
    }
}

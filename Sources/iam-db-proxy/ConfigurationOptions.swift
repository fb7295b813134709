import ArgumentParser
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

    @Option(name: .long, help: "Default AWS region.")
    var region: String?

    @Option(name: .long, help: "AWS profile from the shared files (skips environment credentials).")
    var profile: String?

    @Option(name: .customLong("http-listen"), help: "Serve /startup, /liveness, /readiness, /metrics and POST /quitquitquit on HOST:PORT.")
    var httpListen: String?

    @Option(name: .customLong("min-sigterm-delay"), help: "After SIGTERM, seconds to keep accepting while readiness says no (default 0).")
    var minSigtermDelay: String?

    @Option(name: .customLong("max-sigterm-delay"), help: "Then seconds open sessions may take to finish before they are closed (default 0).")
    var maxSigtermDelay: String?

    @Flag(name: .customLong("exit-zero-on-sigterm"), help: "Exit 0 after SIGTERM even when sessions had to be closed.")
    var exitZeroOnSigterm = false

    /// `users`: the allowed users given on the command line (`run --user`).
    func overlay(users: [String] = []) -> ConfigurationOverlay {
        let given: [(ConfigurationOverlay.Setting, String?)] = [
            (.config, config), (.engine, engine), (.listen, listen), (.upstream, upstream), (.iamHost, iamHost),
            (.iamDefaultPort, iamDefaultPort), (.iamRegion, iamRegion), (.tlsMode, tlsMode), (.caFile, caFile), (.serverName, serverName),
            (.users, users.isEmpty ? nil : users.joined(separator: ",")), (.allowRemote, allowRemote ? "true" : nil),
            (.region, region), (.profile, profile), (.httpListen, httpListen), (.minSigtermDelay, minSigtermDelay),
            (.maxSigtermDelay, maxSigtermDelay), (.exitZeroOnSigterm, exitZeroOnSigterm ? "true" : nil),
        ]
        var flags: [ConfigurationOverlay.Setting: String] = [:]
        for (setting, value) in given { flags[setting] = value }
        return ConfigurationOverlay(flags: flags, deprecatedFlags: deprecatedIAMPort.map { ["--iam-port": $0] } ?? [:],
                                    environment: ProcessInfo.processInfo.environment)
    }
}

import AWSAuth
import Foundation
import Yams

/// The command line and `IAM_DB_PROXY_*` variables, laid over the configuration file or
/// standing in for it (one listener described by flags). The one path `run`, `check` and a
/// SIGHUP reload take: the values become a YAML tree that `ConfigurationReader` checks with the
/// file's own parsers and defaults, so a flag can never mean something its key does not.
/// Precedence: a flag, else its variable, else the file, else the default.
public struct ConfigurationOverlay: Sendable {
    /// A setting the command line and the environment can give.
    public enum Setting: String, CaseIterable, Sendable {
        case config, engine, listen, upstream, iamHost, iamDefaultPort, iamRegion, tlsMode, caFile, serverName, users, allowRemote, role, sessionReuse
        case region, profile, httpListen, adminToken, readinessChecks, minSigtermDelay, maxSigtermDelay, exitZeroOnSigterm, eventLoops

        /// The flag, the variable after `IAM_DB_PROXY_`, and the key in a listener or in the file.
        var spelling: (flag: String?, variable: String, key: String) {
            switch self {
            case .config: ("--config", "CONFIG", "")
            case .engine: ("--engine", "ENGINE", "engine")
            case .listen: ("--listen", "LISTEN", "listen")
            case .upstream: ("--upstream", "UPSTREAM", "upstream")
            case .iamHost: ("--iam-host", "IAM_HOST", "iam_host")
            case .iamDefaultPort: ("--iam-default-port", "IAM_DEFAULT_PORT", "iam_default_port")
            case .iamRegion: ("--iam-region", "IAM_REGION", "iam_region")
            case .tlsMode: ("--tls-mode", "TLS_MODE", "tls.mode")
            case .caFile: ("--ca-file", "CA_FILE", "tls.ca_file")
            case .serverName: ("--server-name", "SERVER_NAME", "tls.server_name")
            case .users: ("--user", "USERS", "users")
            case .allowRemote: ("--allow-remote", "ALLOW_REMOTE", "allow_remote")
            case .role: ("--role", "ROLE", "role")
            case .sessionReuse: ("--session-reuse", "SESSION_REUSE", "session_reuse.mode")
            case .region: ("--region", "REGION", "aws.region")
            case .profile: ("--profile", "PROFILE", "aws.profile")
            case .httpListen: ("--http-listen", "HTTP_LISTEN", "http.listen")
            case .adminToken: (nil, "ADMIN_TOKEN", "http.admin_token")
            case .readinessChecks: ("--readiness-checks", "READINESS_CHECKS", "http.readiness_checks")
            case .minSigtermDelay: ("--min-sigterm-delay", "MIN_SIGTERM_DELAY", "min_sigterm_delay")
            case .maxSigtermDelay: ("--max-sigterm-delay", "MAX_SIGTERM_DELAY", "max_sigterm_delay")
            case .exitZeroOnSigterm: ("--exit-zero-on-sigterm", "EXIT_ZERO_ON_SIGTERM", "exit_zero_on_sigterm")
            case .eventLoops: ("--event-loops", "EVENT_LOOPS", "event_loops")
            }
        }

        /// Older spellings that still work, with a warning: (flag, variable).
        var deprecatedSpellings: [(flag: String, variable: String)] {
            switch self {
            case .iamDefaultPort: [("--iam-port", "IAM_PORT")]
            default: []
            }
        }

        /// Settings of the one listener described by flags (refused beside a file).
        var isListenerSetting: Bool {
            switch self {
            case .engine, .listen, .upstream, .iamHost, .iamDefaultPort, .iamRegion, .tlsMode, .caFile, .serverName, .users, .allowRemote, .role,
                 .sessionReuse: true
            case .config, .region, .profile, .httpListen, .adminToken, .readinessChecks, .minSigtermDelay, .maxSigtermDelay, .exitZeroOnSigterm,
                 .eventLoops: false
            }
        }
    }

    public static let variablePrefix = "IAM_DB_PROXY_"

    /// Flag values by setting (`users`: comma-separated, as `--user` may repeat); flags given
    /// under a deprecated spelling by that spelling.
    public var flags: [Setting: String]
    public var deprecatedFlags: [String: String]
    public var environment: [String: String]

    public init(flags: [Setting: String] = [:], deprecatedFlags: [String: String] = [:], environment: [String: String]) {
        self.flags = flags
        self.deprecatedFlags = deprecatedFlags
        self.environment = environment
    }

    /// A setting's value and where it came from (`--upstream`, `IAM_DB_PROXY_UPSTREAM`), and any
    /// deprecation warning for the spelling used.
    func value(_ setting: Setting) -> (text: String, source: String, warning: String?)? {
        let spelling = setting.spelling
        if let text = flags[setting], let flag = spelling.flag { return (text, flag, nil) }
        for old in setting.deprecatedSpellings {
            if let text = deprecatedFlags[old.flag], let flag = spelling.flag {
                return (text, old.flag, "\(old.flag) is deprecated; use \(flag)")
            }
        }
        if let text = environment[Self.variablePrefix + spelling.variable], !text.isEmpty {
            return (text, Self.variablePrefix + spelling.variable, nil)
        }
        for old in setting.deprecatedSpellings {
            let variable = Self.variablePrefix + old.variable
            if let text = environment[variable], !text.isEmpty {
                return (text, variable, "\(variable) is deprecated; use \(Self.variablePrefix + spelling.variable)")
            }
        }
        return nil
    }

    /// The configuration file named by `--config` or `IAM_DB_PROXY_CONFIG`, if any.
    public var configFile: String? { value(.config)?.text }

    /// The configuration these settings describe, and warnings to log once logging is up.
    public func configuration() throws(ConfigurationError) -> (configuration: ProxyConfiguration, warnings: [String]) {
        var warnings: [String] = []
        var configuration: ProxyConfiguration
        if let file = configFile {
            configuration = try ConfigurationLoader.load(path: file)
            // Dropping a listener flag here would be silent, and dropping an allow-list unsafe.
            for setting in Setting.allCases where setting.isListenerSetting {
                guard let given = value(setting) else { continue }
                throw ConfigurationError(
                    file: "command line", keyPath: given.source, line: nil,
                    message: "describes the one listener run without a configuration file; with \(file), listeners come only from the file "
                        + "(set listeners[].\(setting.spelling.key) there, or leave out the file)")
            }
        } else {
            configuration = ProxyConfiguration()
            configuration.listeners = [try listenerFromSettings(&warnings)]
        }
        let fileRegion = configuration.aws.region
        try overlayProxySettings(on: &configuration, &warnings)
        warnings += configuration.listeners.compactMap(\.regionWarning)
        if let region = configuration.aws.region {
            let source = value(.region)?.source ?? (fileRegion != nil ? "aws.region" : regionVariable ?? "the AWS profile")
            warnings += configuration.listeners.compactMap { $0.hostRegionNote(defaultRegion: region, source: source) }
        }
        return (configuration, warnings)
    }

    /// The SDK variable the default region came from, when neither the file nor a flag set it.
    private var regionVariable: String? { ["AWS_REGION", "AWS_DEFAULT_REGION"].first { environment[$0].map { !$0.isEmpty } ?? false } }

    /// The one listener the flags describe, read by the file's own listener parser.
    private func listenerFromSettings(_ warnings: inout [String]) throws(ConfigurationError) -> ListenerConfiguration {
        guard value(.upstream) != nil else {
            throw ConfigurationError(file: "command line", keyPath: "--upstream", line: nil, message: "missing; give --config FILE or --upstream HOST:PORT")
        }
        var entries: [(String, Node)] = [("name", "default")]
        var listenerKeys: [String: Node] = [:]
        var tlsKeys: [(String, Node)] = []
        var sourceNames: [String: String] = [:]
        let path = "listeners[0]"
        for setting in Setting.allCases where setting.isListenerSetting {
            guard let given = value(setting) else { continue }
            if let warning = given.warning { warnings.append(warning) }
            let key = setting.spelling.key
            sourceNames["\(path).\(key)"] = given.source
            let node: Node
            if setting == .users {
                let names = given.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !names.isEmpty else { continue }
                node = Node.sequence(.init(names.map { Node($0) }))
                for index in names.indices { sourceNames["\(path).users[\(index)]"] = given.source }
            } else {
                node = Node(given.text)
            }
            if key.hasPrefix("tls.") {
                tlsKeys.append((String(key.dropFirst(4)), node))
            } else if key.hasPrefix("session_reuse.") {
                listenerKeys["session_reuse"] = Node.mapping(.init([(Node(String(key.dropFirst("session_reuse.".count))), node)]))
            } else {
                listenerKeys[key] = node
            }
        }
        // The engine's own port when --listen is left out (the file has no such default).
        if listenerKeys["listen"] == nil {
            let engine = value(.engine).flatMap { ListenerConfiguration.Engine(rawValue: $0.text) } ?? .postgres
            listenerKeys["listen"] = Node("127.0.0.1:\(engine.defaultPort)")
        }
        if listenerKeys["engine"] == nil { listenerKeys["engine"] = Node(ListenerConfiguration.Engine.postgres.rawValue) }
        entries += listenerKeys.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if !tlsKeys.isEmpty { entries.append(("tls", Node.mapping(.init(tlsKeys.map { (Node($0.0), $0.1) })))) }
        sourceNames["\(path).tls"] = "--tls-mode"
        let reader = ConfigurationReader(file: "command line", sourceNames: sourceNames)
        return try reader.listener(Node.mapping(.init(entries.map { (Node($0.0), $0.1) })), path, index: 0)
    }

    /// Region, profile and the admin HTTP server, over the file's (or the defaults).
    private func overlayProxySettings(on configuration: inout ProxyConfiguration, _ warnings: inout [String]) throws(ConfigurationError) {
        var sourceNames: [String: String] = [:]
        for setting in [Setting.region, .profile, .httpListen, .adminToken, .readinessChecks, .minSigtermDelay, .maxSigtermDelay, .exitZeroOnSigterm,
                        .eventLoops] {
            if let given = value(setting) { sourceNames[setting.spelling.key] = given.source }
        }
        var reader: ConfigurationReader { ConfigurationReader(file: "command line", sourceNames: sourceNames) }
        if let region = value(.region) { configuration.aws.region = try reader.string(Node(region.text), "aws.region") }
        if let profile = value(.profile) { configuration.aws.profile = try reader.string(Node(profile.text), "aws.profile") }
        if let delay = value(.minSigtermDelay), let seconds = try reader.seconds(Node(delay.text), "min_sigterm_delay", allowZero: true) {
            configuration.minSigtermDelay = seconds
        }
        if let delay = value(.maxSigtermDelay), let seconds = try reader.seconds(Node(delay.text), "max_sigterm_delay", allowZero: true) {
            configuration.maxSigtermDelay = seconds
        }
        if let exitZero = value(.exitZeroOnSigterm), let flag = try reader.boolean(Node(exitZero.text), "exit_zero_on_sigterm") {
            configuration.exitZeroOnSigterm = flag
        }
        if let loops = value(.eventLoops) { configuration.eventLoops = try reader.eventLoops(Node(loops.text), "event_loops") }
        // The SDKs' own variables, when neither the file nor IAM_DB_PROXY_REGION named a region,
        // then the AWS profile's region, as botocore would.
        if configuration.aws.region == nil {
            configuration.aws.region = [environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"]].compactMap { $0 }.first { !$0.isEmpty }
        }
        if configuration.aws.region == nil {
            let aws = AWSEnvironment(environment)
            configuration.aws.region = (try? SharedConfigFiles.load(environment: aws))?
                .profile(ProfileSelection(explicit: configuration.aws.profile, environment: aws).name)?["region"]
        }
        let listen = value(.httpListen), token = value(.adminToken), checks = value(.readinessChecks)
        guard listen != nil || token != nil || checks != nil else { return }
        guard let listenText = listen?.text ?? configuration.http?.listen.description else {
            throw ConfigurationError(file: "command line", keyPath: (token ?? checks)?.source ?? "", line: nil,
                                     message: "needs the admin HTTP server (--http-listen or http.listen)")
        }
        var keys: [(Node, Node)] = [(Node("listen"), Node(listenText))]
        if let tokenText = token?.text ?? configuration.http?.adminToken { keys.append((Node("admin_token"), Node(tokenText))) }
        let checkNames = checks.map { given in given.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            ?? configuration.http?.readinessChecks.sorted().map(\.rawValue) ?? []
        keys.append((Node("readiness_checks"), Node.sequence(.init(checkNames.map { Node($0) }))))
        if let checks { for index in checkNames.indices { sourceNames["http.readiness_checks[\(index)]"] = checks.source } }
        configuration.http = try reader.http(Node.mapping(.init(keys)))
    }
}

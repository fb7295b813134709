import AWSAuth
import ArgumentParser
import Foundation
import IAMDBProxy
import Logging
import ServiceLifecycle
import UnixSignals

/// `iam-db-proxy [run] --config FILE`, or one listener described by flags.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy (the default command).",
        discussion: """
            Give a configuration file with --config, or describe one listener with --engine, --listen and --upstream. \
            Every option can also come from an IAM_DB_PROXY_* environment variable (--ca-file: IAM_DB_PROXY_CA_FILE); \
            flags win over the environment, which wins over the file (for region and profile).
            """
    )

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

    @Option(name: .customLong("iam-port"), help: "Port the token is signed for (default: the upstream port).")
    var iamPort: Int?

    @Option(name: .customLong("iam-region"), help: "Region the token is signed for (default: from the host name).")
    var iamRegion: String?

    @Option(name: .customLong("tls-mode"), help: "Upstream TLS: verify-full (default), verify-ca or require.")
    var tlsMode: String?

    @Option(name: .customLong("ca-file"), help: "PEM bundle trusted in addition to the system roots (RDS global-bundle.pem).")
    var caFile: String?

    @Option(name: .customLong("server-name"), help: "Name the upstream certificate must carry, when not the upstream host.")
    var serverName: String?

    @Option(name: .customLong("user"), help: "Allow only this database user (repeatable).")
    var users: [String] = []

    @Option(name: .long, help: "Default AWS region.")
    var region: String?

    @Option(name: .long, help: "AWS profile from the shared files (skips environment credentials).")
    var profile: String?

    @Option(name: .customLong("http-listen"), help: "Serve /startup, /liveness, /readiness, /metrics and POST /quitquitquit on HOST:PORT.")
    var httpListen: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info (default), notice, warning, error or critical.")
    var logLevelOption: String?

    @Option(name: .customLong("log-format"), help: "text (default) or json (one object a line).")
    var logFormatOption: String?

    var logLevel: String { setting(logLevelOption, "LOG_LEVEL") ?? "info" }
    var logFormat: String { setting(logFormatOption, "LOG_FORMAT") ?? "text" }

    /// A flag's value, else the `IAM_DB_PROXY_<NAME>` environment variable.
    func setting(_ flag: String?, _ name: String) -> String? {
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

    func run() async throws {
        let configuration: ProxyConfiguration
        do {
            configuration = try makeConfiguration()
        } catch let error as ConfigurationError {
            throw CommandFailure("iam-db-proxy: \(error)")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        let format: LineLogHandler.Format = json ? .json : .text
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "iam-db-proxy")
        logger.info("starting iam-db-proxy \(ProxyVersion.string)")
        let server = ProxyServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let reloads = Task { await reloadOnSIGHUP(server, logger: logger) }
        defer { reloads.cancel() }
        do {
            try await group.run()
        } catch let error as ProxyStartError {
            throw CommandFailure("iam-db-proxy: \(error)")
        } catch let error as SessionsCut {
            throw CommandFailure("iam-db-proxy: \(error)")
        }
    }

    /// SIGHUP re-reads the configuration (file, then environment and flags, as at start).
    private func reloadOnSIGHUP(_ server: ProxyServer, logger: Logger) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            guard setting(config, "CONFIG") != nil else {
                logger.warning("SIGHUP ignored: the proxy was started without a configuration file")
                continue
            }
            logger.info("SIGHUP: reloading the configuration")
            do {
                await server.reload(try makeConfiguration())
            } catch {
                server.reloadFailed("\(error)")
            }
        }
    }

    func makeConfiguration() throws -> ProxyConfiguration {
        var configuration = ProxyConfiguration()
        let upstream = setting(self.upstream, "UPSTREAM")
        let engine = setting(self.engine, "ENGINE")
        if let config = setting(self.config, "CONFIG") {
            configuration = try ConfigurationLoader.load(path: config)
            if engine != nil || upstream != nil {
                throw commandLineError("", "give either --config or --engine/--upstream, not both")
            }
        } else {
            guard let upstream else {
                throw commandLineError("--upstream", "missing; give --config FILE or --upstream HOST:PORT")
            }
            let engineName = engine ?? "postgres"
            guard let engine = ListenerConfiguration.Engine(rawValue: engineName) else {
                throw commandLineError("--engine", "must be postgres or mysql")
            }
            guard let target = HostAndPort(upstream, defaultPort: engine.defaultPort) else {
                throw commandLineError("--upstream", "must be HOST:PORT")
            }
            guard let address = ListenerConfiguration.ListenAddress(
                setting(listen, "LISTEN") ?? "127.0.0.1:\(engine.defaultPort)", engine: engine, upstreamPort: target.port)
            else {
                throw commandLineError("--listen", "must be HOST:PORT or unix:/path")
            }
            var listener = ListenerConfiguration(name: "default", engine: engine, listen: address, upstream: target)
            listener.allowRemote = allowRemote || setting(nil, "ALLOW_REMOTE") == "true"
            if let problem = listener.remoteListenProblem { throw commandLineError("--listen", problem) }
            listener.iamHost = setting(iamHost, "IAM_HOST")
            if let port = setting(iamPort.map(String.init), "IAM_PORT") {
                guard let value = Int(port), (1...65_535).contains(value) else {
                    throw commandLineError("--iam-port", "must be a port number")
                }
                listener.iamDefaultPort = value
            }
            listener.iamRegion = setting(iamRegion, "IAM_REGION")
            if let tlsMode = setting(tlsMode, "TLS_MODE") {
                guard let mode = ListenerConfiguration.UpstreamTLS.Mode(rawValue: tlsMode) else {
                    throw commandLineError("--tls-mode", "must be verify-full, verify-ca or require")
                }
                listener.tls.mode = mode
            }
            listener.tls.caFile = setting(caFile, "CA_FILE")
            listener.tls.serverName = setting(serverName, "SERVER_NAME")
            let allowed = users.isEmpty ? setting(nil, "USERS")?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? [] : users
            listener.users = allowed.isEmpty ? nil : allowed
            configuration.listeners = [listener]
        }
        if let http = setting(httpListen, "HTTP_LISTEN") {
            guard let address = HostAndPort(http) else { throw commandLineError("--http-listen", "must be HOST:PORT, for example 127.0.0.1:9090") }
            configuration.http = .init(listen: address, adminToken: configuration.http?.adminToken)
        }
        if let token = setting(nil, "ADMIN_TOKEN") {
            guard configuration.http != nil else { throw commandLineError("IAM_DB_PROXY_ADMIN_TOKEN", "needs the admin HTTP server (--http-listen or http.listen)") }
            guard token.count >= 16 else { throw commandLineError("IAM_DB_PROXY_ADMIN_TOKEN", "must be at least 16 characters") }
            configuration.http?.adminToken = token
        }
        if let region = setting(region, "REGION") { configuration.aws.region = region }
        if let profile = setting(profile, "PROFILE") { configuration.aws.profile = profile }
        if configuration.aws.region == nil {
            configuration.aws.region = ProcessInfo.processInfo.environment["AWS_REGION"] ?? ProcessInfo.processInfo.environment["AWS_DEFAULT_REGION"]
        }
        return configuration
    }

    /// A problem with the flags (or their IAM_DB_PROXY_* variables), reported like a file's.
    private func commandLineError(_ flag: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: "command line", keyPath: flag, line: nil, message: message)
    }
}

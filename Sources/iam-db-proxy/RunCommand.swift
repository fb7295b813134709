import AWSAuth
import ArgumentParser
import Foundation
import IAMDBProxy
import Logging
import NIOCore
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
            flags win over the environment, which wins over the file (region, profile, HTTP, sigterm settings). Beside a \
            file, listener flags are refused.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(name: .customLong("user"), help: "Allow only this database user (repeatable).")
    var users: [String] = []

    @OptionGroup var logging: LoggingOptions

    var logLevel: String { logging.logLevel }
    var logFormat: String { logging.logFormat }

    func run() async throws {
        let configuration: ProxyConfiguration
        let warnings: [String]
        do {
            (configuration, warnings) = try makeConfiguration()
        } catch {
            throw fatal("iam-db-proxy: \(error)")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        let format: LineLogHandler.Format = json ? .json : .text
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        // The singleton group's size is fixed when it is first used, which is after this.
        let eventLoops = configuration.eventLoopCount(cores: System.coreCount)
        NIOSingletons.groupLoopCountSuggestion = eventLoops
        let logger = Logger(label: "iam-db-proxy")
        logger.info("starting iam-db-proxy \(ProxyVersion.string)", metadata: ["event_loops": "\(eventLoops)"])
        for warning in warnings { logger.warning("configuration: \(warning)") }
        let server = ProxyServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let reloads = Task { await reloadOnSIGHUP(server, logger: logger) }
        defer { reloads.cancel() }
        let impatience = Task { await endSessionsOnSecondSignal(server) }
        defer { impatience.cancel() }
        do {
            try await group.run()
        } catch let error as ProxyStartError {
            throw fatal("iam-db-proxy: \(error)")
        } catch let error as SessionsCut {
            throw fatal("iam-db-proxy: \(error)")
        }
    }

    /// SIGHUP re-reads the configuration (file, then environment and flags, as at start).
    private func reloadOnSIGHUP(_ server: ProxyServer, logger: Logger) async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            guard options.overlay(users: users).configFile != nil else {
                logger.warning("SIGHUP ignored: the proxy was started without a configuration file")
                continue
            }
            logger.info("SIGHUP: reloading the configuration")
            let notifier = ServiceManagerNotifier()
            notifier.reloading()
            do {
                await server.reload(try makeConfiguration().configuration)
            } catch {
                server.reloadFailed("\(error)")
            }
            notifier.ready(status: "configuration reloaded")
        }
    }

    /// The first SIGTERM/SIGINT starts the drain (through the service group); a second one
    /// (Ctrl-C again) ends the sessions still open instead of waiting out `max_sigterm_delay`.
    private func endSessionsOnSecondSignal(_ server: ProxyServer) async {
        var received = 0
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            received += 1
            if received >= 2 { server.endOpenSessionsNow() }
        }
    }

    /// Ends the run with one line in the chosen log format: a log shipper that reads JSON lines
    /// gets the reason a proxy never started as one too.
    private func fatal(_ message: String) -> ExitCode {
        guard logFormat == "json" else { return CommandFailure(message) }
        Logger(label: "iam-db-proxy") { label in LineLogHandler(label: label, format: .json) }.critical("\(message)")
        return ExitCode.failure
    }

    /// File, environment and flags, through the one path `check` and a reload take too.
    func makeConfiguration() throws(ConfigurationError) -> (configuration: ProxyConfiguration, warnings: [String]) {
        try options.overlay(users: users).configuration()
    }
}

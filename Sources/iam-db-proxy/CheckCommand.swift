import ArgumentParser
import Foundation
import IAMDBProxy
import Logging

/// `iam-db-proxy check --config FILE [--connect]` (or the flags `run` takes): validates a
/// configuration without serving; with `--connect` also logs in through every listener.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration (a file, or the flags run takes) without starting the proxy (exit 0 only when it is valid)."
    )

    @OptionGroup var options: ConfigurationOptions

    /// Accepted so a `run` command line can be checked as written; `check` prints plain lines.
    @OptionGroup var logging: LoggingOptions

    @Flag(name: .long, help: "Also dial every listener's upstream, complete TLS and log in with a token; one line per listener.")
    var connect = false

    @Option(name: .long, help: "Database user for --connect (default: the first of each listener's users).")
    var user: String?

    @Option(name: .long, help: "Database for --connect (default: postgres for PostgreSQL, none for MySQL).")
    var database: String?

    func run() async throws {
        let configuration: ProxyConfiguration
        let overlay = options.overlay()
        let config = overlay.configFile ?? "command line"
        do {
            let (read, warnings) = try overlay.configuration()
            configuration = read
            for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        } catch {
            throw CommandFailure("\(error)")
        }
        let server = ProxyServer(configuration: configuration, logger: Logger(label: "iam-db-proxy.check") { _ in SwiftLogNoOpLogHandler() })
        let problems = server.validate()
        guard problems.isEmpty else {
            throw CommandFailure(problems.map { "\(config): \($0)" }.joined(separator: "\n"))
        }
        for listener in configuration.listeners {
            for exposure in listener.exposures { FileHandle.standardError.write(Data("warning: listener \(listener.name): \(exposure)\n".utf8)) }
        }
        print("\(config): ok (\(configuration.listeners.count) listener\(configuration.listeners.count == 1 ? "" : "s"))")
        for listener in configuration.listeners {
            if listener.sessionReuse.isOn { print("listener \(listener.name): \(listener.sessionReuse.summary)") }
            if listener.instanceHostPattern != nil || listener.effectiveRole == .reader {
                print("listener \(listener.name): \(listener.topology.summary(upstreamHost: listener.upstream.host, role: listener.effectiveRole))")
            }
        }
        guard connect else { return }
        let outcomes: [ConnectionCheck.Outcome]
        do {
            outcomes = try await ConnectionCheck.run(configuration, user: user, database: database,
                                                     logger: Logger(label: "iam-db-proxy.check") { _ in SwiftLogNoOpLogHandler() })
        } catch {
            throw CommandFailure("\(config): cannot start the listeners to check them: \(error)")
        }
        for outcome in outcomes {
            print("listener \(outcome.listener): \(outcome.problem ?? "ok, \(outcome.detail)")")
        }
        if outcomes.contains(where: { $0.problem != nil }) { throw ExitCode.failure }
    }
}

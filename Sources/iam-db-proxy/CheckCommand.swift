import ArgumentParser
import Foundation
import IAMDBProxy
import Logging

/// `iam-db-proxy check --config FILE`: validates a configuration without starting anything.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file without starting the proxy (exit 0 only when it is valid)."
    )

    @Option(name: .long, help: "YAML configuration file.")
    var config: String

    func run() async throws {
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            throw CommandFailure("\(error)")
        }
        let server = ProxyServer(configuration: configuration, logger: Logger(label: "iam-db-proxy.check") { _ in SwiftLogNoOpLogHandler() })
        let problems = server.validate()
        guard problems.isEmpty else {
            throw CommandFailure(problems.map { "\(config): \($0)" }.joined(separator: "\n"))
        }
        print("\(config): ok (\(configuration.listeners.count) listener\(configuration.listeners.count == 1 ? "" : "s"))")
    }
}

import AWSAuth
import ArgumentParser
import Foundation
import IAMDBProxy
import NIOCore
import NIOHTTP1

/// `iam-db-proxy health`: asks the admin server whether the proxy is ready, for a Dockerfile
/// `HEALTHCHECK` or an ECS container health check — the image has no curl. Exit 0 on 200.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask a running proxy's admin server whether it is ready (exit 0 on 200, else 1).",
        discussion: """
            The address is --url, else http.listen from IAM_DB_PROXY_HTTP_LISTEN or the configuration file \
            (--config / IAM_DB_PROXY_CONFIG), else 127.0.0.1:9090; a wildcard listen address is asked on loopback.
            """
    )

    @Option(help: "The URL to ask, for example http://127.0.0.1:9090/readiness.")
    var url: String?

    @Option(help: "A configuration file whose http.listen to ask.")
    var config: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 3

    func run() async throws {
        let target = url ?? Self.readinessURL(listen: Self.adminAddress(config: config, environment: ProcessInfo.processInfo.environment))
        do {
            let response = try await CredentialHTTPClient().send(.GET, target, timeout: .milliseconds(Int64(timeout * 1000)))
            let body = response.body.trimmingCharacters(in: .whitespacesAndNewlines)
            print("\(response.status) \(body.replacingOccurrences(of: "\n", with: "; "))")
            guard response.status == 200 else { throw ExitCode.failure }
        } catch let error as CredentialHTTPError {
            print("not healthy: cannot reach \(target): \(error) (is the proxy running with http.listen / --http-listen?)")
            throw ExitCode.failure
        }
    }

    /// The admin server's address as `run` would take it from the same environment and file.
    static func adminAddress(config: String?, environment: [String: String]) -> HostAndPort {
        let fallback = HostAndPort(host: "127.0.0.1", port: 9090)
        var flags: [ConfigurationOverlay.Setting: String] = [:]
        if let config { flags[.config] = config }
        let overlay = ConfigurationOverlay(flags: flags, environment: environment)
        if overlay.configFile != nil, let http = try? overlay.configuration().configuration.http { return http.listen }
        if let listen = environment[ConfigurationOverlay.variablePrefix + "HTTP_LISTEN"], let address = HostAndPort(listen) { return address }
        return fallback
    }

    static func readinessURL(listen: HostAndPort) -> String {
        var address = listen
        if address.host == "0.0.0.0" { address.host = "127.0.0.1" }
        if address.host == "::" { address.host = "::1" }
        return "http://\(address)/readiness"
    }
}

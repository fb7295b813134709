import Foundation

/// A snapshot of the environment variables the credential providers read. Providers never
/// read the process environment directly, so tests can describe any machine.
public struct AWSEnvironment: Sendable {
    public var variables: [String: String]

    public init(_ variables: [String: String]) { self.variables = variables }

    public static var process: AWSEnvironment { AWSEnvironment(ProcessInfo.processInfo.environment) }

    /// The value of `name`, nil when unset or empty.
    public subscript(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    public var homeDirectory: String { self["HOME"] ?? NSHomeDirectory() }

    public var configFilePath: String { expandHome(self["AWS_CONFIG_FILE"] ?? "~/.aws/config") }
    public var credentialsFilePath: String {
        expandHome(self["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials")
    }

    public var region: String? { self["AWS_REGION"] ?? self["AWS_DEFAULT_REGION"] }

    public func expandHome(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return homeDirectory + path.dropFirst()
    }

    /// Where a service's requests go when configured elsewhere (VPC endpoints, tests), as the
    /// SDKs resolve it: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the profile's
    /// `services` section (`sts =` / `  endpoint_url = …`), then the profile's `endpoint_url`;
    /// none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's
    /// `ignore_configured_endpoint_urls`) is true. `service`: `STS`, `SSO`, `SSO_OIDC`.
    public func endpointOverride(serviceEnvironmentName service: String, profile: String) -> String? {
        let files = try? SharedConfigFiles.load(environment: self)
        let section = files?.profile(profile) ?? [:]
        if let ignore = self["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] ?? section["ignore_configured_endpoint_urls"], ignore.lowercased() == "true" {
            return nil
        }
        if let url = self["AWS_ENDPOINT_URL_" + service] ?? self["AWS_ENDPOINT_URL"] { return url }
        if let name = section["services"], let nested = files?.services[name]?[service.lowercased()],
           let url = SharedConfigFiles.nestedSettings(nested)["endpoint_url"] {
            return url
        }
        return section["endpoint_url"]
    }

    /// The environment value is a boolean switch set to `true` (case-insensitive).
    public func isTrue(_ name: String) -> Bool { self[name]?.lowercased() == "true" }
}

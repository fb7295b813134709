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

    /// `AWS_ENDPOINT_URL_<SERVICE>` then `AWS_ENDPOINT_URL` (the SDKs' endpoint override), so
    /// tests and VPC endpoints can point a service elsewhere.
    public func endpointOverride(serviceEnvironmentName: String) -> String? {
        self["AWS_ENDPOINT_URL_" + serviceEnvironmentName] ?? self["AWS_ENDPOINT_URL"]
    }

    /// The environment value is a boolean switch set to `true` (case-insensitive).
    public func isTrue(_ name: String) -> Bool { self[name]?.lowercased() == "true" }
}

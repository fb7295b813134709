import Foundation
import NIOCore
import NIOHTTP1

/// ECS task roles (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on 169.254.170.2) and EKS Pod
/// Identity / custom endpoints (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, https anywhere, plain
/// http only to loopback or the ECS/EKS link-local agents). The `Authorization` header comes
/// from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, re-read on every fetch because the agent
/// rotates it, else from `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialProvider: CredentialProvider {
    public let name = "container"
    let environment: AWSEnvironment
    let http: CredentialHTTPClient
    let timeout: TimeAmount

    static let ecsHost = "169.254.170.2"
    static let allowedHTTPHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]", "localhost"]

    public init(environment: AWSEnvironment, http: CredentialHTTPClient = .init(), timeout: TimeAmount = .seconds(2)) {
        self.environment = environment
        self.http = http
        self.timeout = timeout
    }

    /// The endpoint to call, or why there is none. Pure, so the URI rules are unit-tested.
    static func endpoint(environment: AWSEnvironment) throws -> String {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            return "http://\(ecsHost)" + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        guard let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] else {
            throw CredentialProviderError.notConfigured(
                provider: "container", reason: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set")
        }
        guard let url = URL(string: full), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
            throw CredentialProviderError.failed(provider: "container", reason: "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL")
        }
        if scheme == "https" { return full }
        guard scheme == "http", isAllowedHTTPHost(host) else {
            throw CredentialProviderError.failed(
                provider: "container",
                reason: "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23 (got \(host))")
        }
        return full
    }

    static func isAllowedHTTPHost(_ host: String) -> Bool {
        if allowedHTTPHosts.contains(host) { return true }
        if host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".")
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public func credentials() async throws -> AWSCredentials {
        let url = try Self.endpoint(environment: environment)
        var headers: [(String, String)] = []
        if let tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw CredentialProviderError.failed(provider: name, reason: "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile)")
            }
            headers.append(("Authorization", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] {
            headers.append(("Authorization", token))
        }
        let response: CredentialHTTPClient.Response
        do {
            response = try await http.send(.GET, url, headers: headers, timeout: timeout)
        } catch {
            throw CredentialProviderError.failed(provider: name, reason: "\(url): \(error)")
        }
        guard response.status == 200 else {
            throw CredentialProviderError.failed(provider: name, reason: "\(url) answered HTTP \(response.status)")
        }
        return try CredentialDocument.credentials(from: response.body, provider: name)
    }
}

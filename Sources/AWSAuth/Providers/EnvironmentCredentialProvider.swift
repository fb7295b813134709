import Foundation

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SECURITY_TOKEN` or
/// `AWS_SESSION_TOKEN` (botocore takes the old name first), optional `AWS_CREDENTIAL_EXPIRATION`.
/// As botocore: without a key id the provider does not apply (a stray secret alone is not
/// credentials); a key id without a secret, or credentials past their expiration, end the chain.
public struct EnvironmentCredentialProvider: CredentialProvider {
    public let name = "environment"
    let environment: AWSEnvironment
    let now: @Sendable () -> Date

    public init(environment: AWSEnvironment, now: @escaping @Sendable () -> Date = Date.init) {
        self.environment = environment
        self.now = now
    }

    public func credentials() async throws -> AWSCredentials {
        guard let keyID = environment["AWS_ACCESS_KEY_ID"] else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "AWS_ACCESS_KEY_ID not set")
        }
        guard let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw CredentialProviderError.failed(provider: name, reason: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        var expiration: Date?
        if let text = environment["AWS_CREDENTIAL_EXPIRATION"] {
            guard let parsed = ISO8601.parse(text) else {
                throw CredentialProviderError.failed(provider: name, reason: "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time")
            }
            guard parsed > now() else {
                throw CredentialProviderError.failed(
                    provider: name, reason: "the credentials in the environment expired at \(text) (AWS_CREDENTIAL_EXPIRATION); set fresh ones")
            }
            expiration = parsed
        }
        return AWSCredentials(
            accessKeyID: keyID, secretAccessKey: secret,
            sessionToken: environment["AWS_SECURITY_TOKEN"] ?? environment["AWS_SESSION_TOKEN"],
            expiration: expiration, source: name)
    }
}

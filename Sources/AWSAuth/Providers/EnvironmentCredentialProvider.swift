import Foundation

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`
/// (and its old name `AWS_SECURITY_TOKEN`), optional `AWS_CREDENTIAL_EXPIRATION`.
public struct EnvironmentCredentialProvider: CredentialProvider {
    public let name = "environment"
    let environment: AWSEnvironment

    public init(environment: AWSEnvironment) { self.environment = environment }

    public func credentials() async throws -> AWSCredentials {
        let keyID = environment["AWS_ACCESS_KEY_ID"]
        let secret = environment["AWS_SECRET_ACCESS_KEY"]
        switch (keyID, secret) {
        case (nil, nil):
            throw CredentialProviderError.notConfigured(provider: name, reason: "AWS_ACCESS_KEY_ID not set")
        case (nil, _):
            throw CredentialProviderError.failed(
                provider: name, reason: "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (_, nil):
            throw CredentialProviderError.failed(
                provider: name, reason: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (let keyID?, let secret?):
            var expiration: Date?
            if let text = environment["AWS_CREDENTIAL_EXPIRATION"] {
                guard let parsed = ISO8601.parse(text) else {
                    throw CredentialProviderError.failed(
                        provider: name, reason: "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time")
                }
                expiration = parsed
            }
            return AWSCredentials(
                accessKeyID: keyID, secretAccessKey: secret,
                sessionToken: environment["AWS_SESSION_TOKEN"] ?? environment["AWS_SECURITY_TOKEN"],
                expiration: expiration, source: name)
        }
    }
}

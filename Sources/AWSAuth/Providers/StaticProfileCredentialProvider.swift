import Foundation

/// Long-term keys written in a profile: `aws_access_key_id`, `aws_secret_access_key`,
/// optional `aws_session_token`. One instance reads the shared credentials file, another the
/// config file, which sit at different places of botocore's chain.
public struct StaticProfileCredentialProvider: CredentialProvider {
    public enum File: Sendable { case credentials, config }

    public var name: String { file == .credentials ? "shared-credentials-file" : "config-file" }
    let file: File
    let profile: String
    let environment: AWSEnvironment

    public init(file: File, profile: String, environment: AWSEnvironment) {
        self.file = file
        self.profile = profile
        self.environment = environment
    }

    public func credentials() async throws -> AWSCredentials {
        let files = try SharedConfigFiles.load(environment: environment)
        let section = file == .credentials ? files.credentialsProfiles[profile] : files.configProfiles[profile]
        let path = file == .credentials ? files.credentialsPath : files.configPath
        guard let section else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "no profile \(profile) in \(path)")
        }
        guard let credentials = try Self.keys(in: section, profile: profile, provider: name) else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "profile \(profile) in \(path) has no aws_access_key_id")
        }
        return credentials
    }

    static func keys(in section: SharedConfigFiles.Section, profile: String, provider: String) throws -> AWSCredentials? {
        guard let keyID = section["aws_access_key_id"], !keyID.isEmpty else { return nil }
        guard let secret = section["aws_secret_access_key"], !secret.isEmpty else {
            throw CredentialProviderError.failed(
                provider: provider, reason: "profile \(profile) has aws_access_key_id but no aws_secret_access_key")
        }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: section["aws_session_token"], source: provider)
    }
}

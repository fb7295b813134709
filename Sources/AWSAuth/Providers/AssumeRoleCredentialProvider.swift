import Foundation
import NIOCore

/// A profile with `role_arn` and either `source_profile` (possibly a chain of role profiles)
/// or `credential_source` (`Environment`, `Ec2InstanceMetadata`, `EcsContainer`), resolved
/// through STS AssumeRole. Profiles are walked with cycle detection; a profile that names
/// itself as `source_profile` uses its own static keys, as botocore allows. Every STS call of
/// the walk goes to one region, botocore's session region: `AWS_REGION` / `AWS_DEFAULT_REGION`,
/// else the selected profile's `region`, else the global endpoint.
public struct AssumeRoleCredentialProvider: CredentialProvider {
    public let name = "assume-role"
    let profile: String
    let environment: AWSEnvironment
    let http: CredentialHTTPClient
    let timeout: TimeAmount

    public init(profile: String, environment: AWSEnvironment, http: CredentialHTTPClient = .init(), timeout: TimeAmount = .seconds(5)) {
        self.profile = profile
        self.environment = environment
        self.http = http
        self.timeout = timeout
    }

    public func credentials() async throws -> AWSCredentials {
        let files = try SharedConfigFiles.load(environment: environment)
        guard let section = files.profile(profile), Self.isRoleProfile(section) else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "profile \(profile) has no role_arn with source_profile or credential_source")
        }
        return try await assumeRole(profile: profile, files: files, visited: [])
    }

    private func stsRegion(_ files: SharedConfigFiles) -> String? {
        environment.region ?? files.profile(profile)?["region"]
    }

    static func isRoleProfile(_ section: SharedConfigFiles.Section) -> Bool {
        section["role_arn"] != nil && (section["source_profile"] != nil || section["credential_source"] != nil)
    }

    private func assumeRole(profile: String, files: SharedConfigFiles, visited: [String]) async throws -> AWSCredentials {
        guard let section = files.profile(profile), let roleARN = section["role_arn"] else {
            throw CredentialProviderError.failed(provider: name, reason: "profile \(profile) has no role_arn")
        }
        let source = try await sourceCredentials(of: profile, section: section, files: files, visited: visited + [profile])
        let sts = STSClient(environment: environment, profile: profile, region: stsRegion(files), http: http, timeout: timeout)
        return try await sts.assumeRole(
            roleARN: roleARN, sessionName: section["role_session_name"] ?? "iam-db-proxy-\(Int(Date().timeIntervalSince1970))",
            externalID: section["external_id"], durationSeconds: section["duration_seconds"].flatMap(Int.init),
            using: source, provider: name)
    }

    private func sourceCredentials(
        of profile: String, section: SharedConfigFiles.Section, files: SharedConfigFiles, visited: [String]
    ) async throws -> AWSCredentials {
        if let credentialSource = section["credential_source"] {
            guard section["source_profile"] == nil else {
                throw CredentialProviderError.failed(provider: name, reason: "profile \(profile) sets both source_profile and credential_source")
            }
            switch credentialSource {
            case "Environment": return try await EnvironmentCredentialProvider(environment: environment).credentials()
            case "Ec2InstanceMetadata": return try await InstanceMetadataCredentialProvider(environment: environment, http: http).credentials()
            case "EcsContainer": return try await ContainerCredentialProvider(environment: environment, http: http).credentials()
            default:
                throw CredentialProviderError.failed(
                    provider: name, reason: "profile \(profile) has credential_source \(credentialSource); use Environment, Ec2InstanceMetadata or EcsContainer")
            }
        }
        guard let sourceName = section["source_profile"] else {
            throw CredentialProviderError.failed(provider: name, reason: "profile \(profile) has no source_profile")
        }
        guard let source = files.profile(sourceName) else {
            throw CredentialProviderError.failed(provider: name, reason: "profile \(profile) names source_profile \(sourceName), which does not exist")
        }
        let selfReferenceWithKeys = sourceName == profile && source["aws_access_key_id"] != nil
        if Self.isRoleProfile(source) && !selfReferenceWithKeys {
            guard !visited.contains(sourceName) else {
                throw CredentialProviderError.failed(
                    provider: name, reason: "source_profile cycle: \((visited + [sourceName]).joined(separator: " -> "))")
            }
            return try await assumeRole(profile: sourceName, files: files, visited: visited)
        }
        if let keys = try StaticProfileCredentialProvider.keys(in: source, profile: sourceName, provider: name) { return keys }
        if let command = source["credential_process"] { return try await ProcessCredentialProvider(command: command).credentials() }
        if try SSOCredentialProvider.settings(profile: sourceName, files: files) != nil {
            return try await SSOCredentialProvider(profile: sourceName, environment: environment, http: http).credentials()
        }
        if let tokenFile = source["web_identity_token_file"] {
            let sts = STSClient(environment: environment, profile: profile, region: stsRegion(files), http: http, timeout: timeout)
            return try await WebIdentityCredentialProvider(
                tokenFile: tokenFile, roleARN: source["role_arn"], sessionName: source["role_session_name"], sts: sts
            ).credentials()
        }
        throw CredentialProviderError.failed(provider: name, reason: "source_profile \(sourceName) has no credentials")
    }
}

import Foundation
import NIOCore

/// The standard chain, in botocore's order: environment → assume-role profile → web identity →
/// SSO → shared credentials file → credential_process → config file → container → IMDS.
public enum DefaultCredentialChain {
    public static func make(
        profile explicitProfile: String? = nil, environment: AWSEnvironment = .process,
        http: CredentialHTTPClient = .init()
    ) -> CredentialChain {
        let selection = ProfileSelection(explicit: explicitProfile, environment: environment)
        var providers: [any CredentialProvider] = []
        if !selection.isExplicit {
            providers.append(EnvironmentCredentialProvider(environment: environment))
        }
        providers.append(AssumeRoleCredentialProvider(profile: selection.name, environment: environment, http: http))
        providers.append(ProfileWebIdentityProvider(profile: selection.name, environment: environment, http: http,
                                                    readsEnvironment: !selection.isExplicit))
        providers.append(SSOCredentialProvider(profile: selection.name, environment: environment, http: http))
        providers.append(StaticProfileCredentialProvider(file: .credentials, profile: selection.name, environment: environment))
        providers.append(ProfileProcessProvider(profile: selection.name, environment: environment))
        providers.append(StaticProfileCredentialProvider(file: .config, profile: selection.name, environment: environment))
        providers.append(ContainerCredentialProvider(environment: environment, http: http))
        providers.append(InstanceMetadataCredentialProvider(environment: environment, http: http))
        return CredentialChain(providers) { try selection.checkExists(environment: environment) }
    }
}

/// Web identity from the environment first, else from the profile's settings (read lazily,
/// so edits to the files are seen on the next fetch). With an explicit profile only the
/// profile's settings count, as in botocore: `--profile dev` must not sign as the pod's role.
struct ProfileWebIdentityProvider: CredentialProvider {
    let name = "web-identity"
    let profile: String
    let environment: AWSEnvironment
    let http: CredentialHTTPClient
    var readsEnvironment = true

    func credentials() async throws -> AWSCredentials {
        let section = try SharedConfigFiles.load(environment: environment).profile(profile) ?? [:]
        let sts = STSClient(environment: environment, profile: profile, region: environment.region ?? section["region"], http: http, timeout: .seconds(5))
        func setting(_ variable: String, _ key: String) -> String? { (readsEnvironment ? environment[variable] : nil) ?? section[key] }
        return try await WebIdentityCredentialProvider(
            tokenFile: setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file"),
            roleARN: setting("AWS_ROLE_ARN", "role_arn"),
            sessionName: setting("AWS_ROLE_SESSION_NAME", "role_session_name"), sts: sts
        ).credentials()
    }
}

struct ProfileProcessProvider: CredentialProvider {
    let name = "process"
    let profile: String
    let environment: AWSEnvironment

    func credentials() async throws -> AWSCredentials {
        let section = try SharedConfigFiles.load(environment: environment).profile(profile)
        return try await ProcessCredentialProvider(command: section?["credential_process"]).credentials()
    }
}

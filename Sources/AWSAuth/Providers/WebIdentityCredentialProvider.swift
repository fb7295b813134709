import Foundation
import NIOCore

/// EKS IRSA and other OIDC federation: a token file plus a role, exchanged through
/// STS AssumeRoleWithWebIdentity. From `AWS_WEB_IDENTITY_TOKEN_FILE` / `AWS_ROLE_ARN` /
/// `AWS_ROLE_SESSION_NAME`, or the profile's `web_identity_token_file` / `role_arn`.
/// The token file is re-read on each fetch: the kubelet rotates it.
public struct WebIdentityCredentialProvider: CredentialProvider {
    public let name = "web-identity"
    let tokenFile: String?
    let roleARN: String?
    let sessionName: String
    let sts: STSClient

    init(tokenFile: String?, roleARN: String?, sessionName: String?, sts: STSClient) {
        self.tokenFile = tokenFile
        self.roleARN = roleARN
        self.sessionName = sessionName ?? "iam-db-proxy-\(Int(Date().timeIntervalSince1970))"
        self.sts = sts
    }

    public func credentials() async throws -> AWSCredentials {
        guard let tokenFile else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "AWS_WEB_IDENTITY_TOKEN_FILE not set")
        }
        guard let roleARN else {
            throw CredentialProviderError.failed(provider: name, reason: "a web identity token file is set but no role ARN (AWS_ROLE_ARN)")
        }
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw CredentialProviderError.failed(provider: name, reason: "cannot read web identity token file \(tokenFile)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return try await sts.assumeRoleWithWebIdentity(
            roleARN: roleARN, sessionName: sessionName, webIdentityToken: token, provider: name)
    }
}

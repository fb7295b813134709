import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// IAM Identity Center (SSO) role credentials, from the access token `aws sso login` caches in
/// `~/.aws/sso/cache/<sha1(session name or start URL)>.json`. With an `sso-session`, the access
/// token is refreshed through SSO-OIDC 15 minutes before it expires (and the cache file
/// updated), so a proxy left running all day keeps working without another login.
public struct SSOCredentialProvider: CredentialProvider {
    public let name = "sso"
    let profile: String
    let environment: AWSEnvironment
    let http: CredentialHTTPClient
    let timeout: TimeAmount
    static let tokenRefreshWindow: TimeInterval = 15 * 60

    public init(profile: String, environment: AWSEnvironment, http: CredentialHTTPClient = .init(), timeout: TimeAmount = .seconds(5)) {
        self.profile = profile
        self.environment = environment
        self.http = http
        self.timeout = timeout
    }

    struct Settings: Equatable {
        var startURL: String
        var region: String
        var accountID: String
        var roleName: String
        /// nil for the legacy form (settings in the profile itself, no token refresh).
        var sessionName: String?
        var cacheKey: String { sessionName ?? startURL }
    }

    static func settings(profile: String, files: SharedConfigFiles) throws -> Settings? {
        guard let section = files.profile(profile) else { return nil }
        let sessionName = section["sso_session"]
        guard sessionName != nil || section["sso_start_url"] != nil else { return nil }
        var startURL = section["sso_start_url"]
        var region = section["sso_region"]
        if let sessionName {
            guard let session = files.ssoSessions[sessionName] else {
                throw CredentialProviderError.failed(provider: "sso", reason: "profile \(profile) names sso_session \(sessionName), which \(files.configPath) does not define")
            }
            startURL = session["sso_start_url"] ?? startURL
            region = session["sso_region"] ?? region
        }
        guard let startURL, let region, let accountID = section["sso_account_id"], let roleName = section["sso_role_name"] else {
            throw CredentialProviderError.failed(
                provider: "sso", reason: "profile \(profile) needs sso_start_url, sso_region, sso_account_id and sso_role_name")
        }
        return Settings(startURL: startURL, region: region, accountID: accountID, roleName: roleName, sessionName: sessionName)
    }

    public func credentials() async throws -> AWSCredentials {
        let files = try SharedConfigFiles.load(environment: environment)
        guard let settings = try Self.settings(profile: profile, files: files) else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "profile \(profile) has no SSO settings")
        }
        let accessToken = try await validAccessToken(settings)
        let portal = environment.endpointOverride(serviceEnvironmentName: "SSO", profile: profile) ?? "https://portal.sso.\(settings.region).amazonaws.com"
        let url = "\(portal)/federation/credentials?role_name=\(PercentEncoding.encode(settings.roleName))&account_id=\(PercentEncoding.encode(settings.accountID))"
        let response: CredentialHTTPClient.Response
        do {
            response = try await http.send(.GET, url, headers: [("x-amz-sso_bearer_token", accessToken)], timeout: timeout)
        } catch {
            throw CredentialProviderError.failed(provider: name, reason: "SSO portal \(portal): \(error)")
        }
        guard response.status == 200 else {
            let hint = response.status == 401 || response.status == 403 ? "; run `aws sso login --profile \(profile)`" : ""
            throw CredentialProviderError.failed(provider: name, reason: "SSO portal answered HTTP \(response.status)\(hint)")
        }
        struct Answer: Decodable {
            struct Role: Decodable { var accessKeyId: String; var secretAccessKey: String; var sessionToken: String?; var expiration: Int64 }
            var roleCredentials: Role
        }
        guard let role = try? JSONDecoder().decode(Answer.self, from: Data(response.body.utf8)).roleCredentials else {
            throw CredentialProviderError.failed(provider: name, reason: "SSO portal answer is not a roleCredentials document")
        }
        return AWSCredentials(
            accessKeyID: role.accessKeyId, secretAccessKey: role.secretAccessKey, sessionToken: role.sessionToken,
            expiration: Date(timeIntervalSince1970: TimeInterval(role.expiration) / 1000), source: name)
    }

    static func cachePath(for settings: Settings, environment: AWSEnvironment) -> String {
        let digest = Hex.lowercase(Insecure.SHA1.hash(data: Array(settings.cacheKey.utf8)))
        return environment.expandHome("~/.aws/sso/cache/\(digest).json")
    }

    private func validAccessToken(_ settings: Settings) async throws -> String {
        let path = Self.cachePath(for: settings, environment: environment)
        let login = "run `aws sso login --profile \(profile)`"
        guard let data = FileManager.default.contents(atPath: path),
            var cache = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let token = cache["accessToken"] as? String, let expiresText = cache["expiresAt"] as? String,
            let expiresAt = ISO8601.parse(expiresText)
        else {
            throw CredentialProviderError.failed(provider: name, reason: "no cached SSO token at \(path); \(login)")
        }
        let now = Date()
        guard settings.sessionName != nil, expiresAt.timeIntervalSince(now) < Self.tokenRefreshWindow else {
            guard expiresAt > now else {
                throw CredentialProviderError.failed(provider: name, reason: "the SSO token expired at \(expiresText); \(login)")
            }
            return token
        }
        do {
            let refreshed = try await refresh(cache: cache, region: settings.region)
            cache["accessToken"] = refreshed.accessToken
            cache["expiresAt"] = now.addingTimeInterval(TimeInterval(refreshed.expiresIn)).formatted(.iso8601)
            if let refreshToken = refreshed.refreshToken { cache["refreshToken"] = refreshToken }
            if let updated = try? JSONSerialization.data(withJSONObject: cache, options: [.sortedKeys]) {
                try? updated.write(to: URL(fileURLWithPath: path), options: .atomic)
            }
            return refreshed.accessToken
        } catch {
            // A failed refresh keeps using a token that is still valid.
            guard expiresAt > now else {
                throw CredentialProviderError.failed(provider: name, reason: "the SSO token expired and refreshing it failed (\(error)); \(login)")
            }
            return token
        }
    }

    private struct RefreshAnswer: Decodable { var accessToken: String; var expiresIn: Int; var refreshToken: String? }

    private func refresh(cache: [String: Any], region: String) async throws -> RefreshAnswer {
        guard let clientID = cache["clientId"] as? String, let clientSecret = cache["clientSecret"] as? String,
            let refreshToken = cache["refreshToken"] as? String
        else { throw CredentialHTTPError(reason: "the cached SSO token has no refresh token") }
        if let text = cache["registrationExpiresAt"] as? String, let date = ISO8601.parse(text), date <= Date() {
            throw CredentialHTTPError(reason: "the SSO client registration expired")
        }
        let endpoint = environment.endpointOverride(serviceEnvironmentName: "SSO_OIDC", profile: profile) ?? "https://oidc.\(region).amazonaws.com"
        let body = try JSONSerialization.data(withJSONObject: [
            "grantType": "refresh_token", "clientId": clientID, "clientSecret": clientSecret, "refreshToken": refreshToken,
        ])
        let response = try await http.send(
            .POST, "\(endpoint)/token", headers: [("content-type", "application/json")],
            body: String(decoding: body, as: UTF8.self), timeout: timeout)
        guard response.status == 200,
            let answer = try? JSONDecoder().decode(RefreshAnswer.self, from: Data(response.body.utf8))
        else { throw CredentialHTTPError(reason: "SSO-OIDC token refresh answered HTTP \(response.status)") }
        return answer
    }
}

import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// EC2 instance profile credentials through IMDSv2: `PUT /latest/api/token`, then the role
/// name and its credentials under `iam/security-credentials-extended/` (falling back to
/// `iam/security-credentials/` where the extended path is unknown). Falls back to IMDSv1 when
/// the token call is refused or fails with a server error, as botocore does, unless
/// `AWS_EC2_METADATA_V1_DISABLED`. Switched off by `AWS_EC2_METADATA_DISABLED=true`;
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it.
///
/// Credentials that IMDS still serves close to (or past) their expiry — an IMDS or STS outage —
/// get their expiry moved to now + 10 minutes + 2–10 minutes of jitter (botocore's
/// `_evaluate_expiration`): the instance keeps working through the outage, and a fleet does not
/// refetch in step.
public struct InstanceMetadataCredentialProvider: CredentialProvider {
    public let name = "imds"
    let environment: AWSEnvironment
    let http: CredentialHTTPClient
    let timeout: TimeAmount
    let now: @Sendable () -> Date
    /// Seconds of jitter added to the 10-minute extension (botocore: 120–600).
    let jitter: @Sendable () -> TimeInterval
    let logger: Logger
    static let tokenTTLSeconds = 21_600
    static let extensionWindow: TimeInterval = 10 * 60

    public init(environment: AWSEnvironment, http: CredentialHTTPClient = .init(), timeout: TimeAmount = .seconds(1),
                now: @escaping @Sendable () -> Date = Date.init, jitter: @escaping @Sendable () -> TimeInterval = { .random(in: 120...600) },
                logger: Logger = Logger(label: "iam-db-proxy.credentials")) {
        self.environment = environment
        self.http = http
        self.timeout = timeout
        self.now = now
        self.jitter = jitter
        self.logger = logger
    }

    var endpoint: String {
        var base = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? "http://169.254.169.254"
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    public func credentials() async throws -> AWSCredentials {
        if environment.isTrue("AWS_EC2_METADATA_DISABLED") {
            throw CredentialProviderError.notConfigured(provider: name, reason: "AWS_EC2_METADATA_DISABLED is true")
        }
        let token: String?
        do {
            token = try await sessionToken()
        } catch let error as CredentialHTTPError {
            // Nothing answers: not on EC2 (or a hop limit too low for a container).
            throw CredentialProviderError.notConfigured(provider: name, reason: "no instance metadata service at \(endpoint) (\(error))")
        }
        let headers = token.map { [("x-aws-ec2-metadata-token", $0)] } ?? []
        for listing in ["security-credentials-extended", "security-credentials"] {
            let base = "\(endpoint)/latest/meta-data/iam/\(listing)/"
            let roles = try await get(base, headers: headers)
            if roles.status == 404 { continue }
            guard roles.status == 200 else {
                throw CredentialProviderError.failed(provider: name, reason: "\(base) answered HTTP \(roles.status)")
            }
            guard let role = roles.body.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
                throw CredentialProviderError.notConfigured(provider: name, reason: "the instance has no IAM role attached")
            }
            let document = try await get(base + role, headers: headers)
            guard document.status == 200 else {
                throw CredentialProviderError.failed(provider: name, reason: "\(base)\(role) answered HTTP \(document.status)")
            }
            return try extendedIfStale(CredentialDocument.credentials(from: document.body, provider: name, acceptingExpired: true))
        }
        throw CredentialProviderError.notConfigured(provider: name, reason: "the instance has no IAM role attached")
    }

    /// The IMDSv2 session token, or nil to continue with IMDSv1.
    private func sessionToken() async throws -> String? {
        let response = try await http.send(
            .PUT, "\(endpoint)/latest/api/token",
            headers: [("x-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))], timeout: timeout)
        if response.status == 200, !response.body.isEmpty { return response.body }
        if response.status == 400 {
            throw CredentialProviderError.failed(provider: name, reason: "IMDSv2 token request answered HTTP 400 (a bad request, not an outage)")
        }
        // 403/404/405 (no IMDSv2 here) and server errors: botocore goes on with IMDSv1.
        guard environment.isTrue("AWS_EC2_METADATA_V1_DISABLED") else { return nil }
        throw CredentialProviderError.failed(
            provider: name, reason: "IMDSv2 token request answered HTTP \(response.status), and AWS_EC2_METADATA_V1_DISABLED forbids IMDSv1")
    }

    /// botocore's `_evaluate_expiration`: within 10 minutes + jitter of expiry (or past it), the
    /// expiry becomes now + 10 minutes + jitter.
    func extendedIfStale(_ credentials: AWSCredentials) -> AWSCredentials {
        guard let expiration = credentials.expiration else { return credentials }
        let offset = Self.extensionWindow + jitter()
        let current = now()
        guard current >= expiration.addingTimeInterval(-offset) else { return credentials }
        var extended = credentials
        extended.expiration = current.addingTimeInterval(offset)
        logger.info(
            "instance metadata served credentials close to or past their expiry; using them a while longer and asking again later",
            metadata: ["expired_at": "\(expiration)", "retry_in_s": "\(Int(offset))"])
        return extended
    }

    private func get(_ url: String, headers: [(String, String)]) async throws -> CredentialHTTPClient.Response {
        do {
            return try await http.send(.GET, url, headers: headers, timeout: timeout)
        } catch {
            throw CredentialProviderError.failed(provider: name, reason: "\(url): \(error)")
        }
    }
}

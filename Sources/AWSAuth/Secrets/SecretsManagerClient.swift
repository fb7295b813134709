import Foundation
import NIOCore
import NIOHTTP1

/// Secrets Manager's `GetSecretValue`, SigV4-signed with the chain's credentials, against the
/// regional endpoint (`secretsmanager[-fips].REGION.amazonaws.com`, other partitions' suffixes) unless a
/// configured endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, the profile's)
/// or the listener's `endpoint` points elsewhere. Errors carry the AWS error code and the secret's
/// id, never its value.
public struct SecretsManagerClient: Sendable {
    public struct Secret: Sendable {
        public let username: String
        public let password: String
        public let versionID: String?
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let secretID: String
        /// The AWS error code (`AccessDeniedException`, `ResourceNotFoundException`,
        /// `DecryptionFailure`, …) or what went wrong before any answer.
        public let code: String
        public let reason: String
        public var description: String { "secret \(secretID): \(code): \(reason)" }
    }

    let region: String
    let http: CredentialHTTPClient
    let timeout: TimeAmount
    /// Resolved once, as STSClient does: a configured endpoint means reading the shared files.
    public let endpoint: String

    /// `endpoint`: the listener's own, before any configured one.
    public init(environment: AWSEnvironment, profile: String, region: String, endpoint: String? = nil,
                http: CredentialHTTPClient = .init(), timeout: TimeAmount = .seconds(5)) {
        self.region = region
        self.http = http
        self.timeout = timeout
        self.endpoint = endpoint
            ?? environment.endpointOverride(serviceEnvironmentName: "SECRETS_MANAGER", profile: profile)
            ?? ServiceEndpoint.regional("secretsmanager", region: region, fips: ServiceEndpoint.usesFIPS(environment, profile: profile))
    }

    /// The `username` and `password` of the secret's JSON at `versionStage`.
    public func secret(id: String, versionStage: String, credentials: AWSCredentials, date: Date = Date()) async throws -> Secret {
        guard let url = URL(string: endpoint), let host = url.host else {
            throw Failure(secretID: id, code: "BadEndpoint", reason: "\(endpoint) is not a URL")
        }
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["SecretId": id, "VersionStage": versionStage], options: [.sortedKeys]), as: UTF8.self)
        let headers = SigV4HeaderSigner(service: "secretsmanager", region: region).signedHeaders(
            method: "POST", host: host, port: url.port, path: url.path.isEmpty ? "/" : url.path,
            contentType: "application/x-amz-json-1.1", body: body, credentials: credentials, date: date,
            extraHeaders: [("x-amz-target", "secretsmanager.GetSecretValue")])
        let response: CredentialHTTPClient.Response
        do {
            response = try await http.send(.POST, endpoint, headers: headers.map { ($0.name, $0.value) }, body: body, timeout: timeout)
        } catch {
            throw Failure(secretID: id, code: "Unreachable", reason: "Secrets Manager at \(endpoint): \(error)")
        }
        let document = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
        guard response.status == 200 else {
            let type = (document?["__type"] as? String).map { $0.split(separator: "#").last.map(String.init) ?? $0 } ?? "HTTP \(response.status)"
            let message = (document?["message"] ?? document?["Message"]) as? String ?? "no message"
            throw Failure(secretID: id, code: type, reason: message)
        }
        guard let document else { throw Failure(secretID: id, code: "BadAnswer", reason: "the answer is not JSON") }
        guard let text = document["SecretString"] as? String else {
            if document["SecretBinary"] != nil {
                throw Failure(secretID: id, code: "SecretBinary", reason: "the secret is binary; store {\"username\": …, \"password\": …} as its SecretString")
            }
            throw Failure(secretID: id, code: "BadAnswer", reason: "the answer has no SecretString")
        }
        guard let values = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let username = values["username"] as? String, let password = values["password"] as? String
        else {
            throw Failure(secretID: id, code: "BadSecret", reason: "the SecretString is not JSON with \"username\" and \"password\" (as RDS writes it)")
        }
        return Secret(username: username, password: password, versionID: document["VersionId"] as? String)
    }
}

import Foundation

/// The JSON credential document the container endpoint, IMDS and `credential_process` return:
/// `AccessKeyId`, `SecretAccessKey`, `Token` or `SessionToken`, `Expiration` (ISO 8601).
struct CredentialDocument: Decodable {
    var version: Int?
    var code: String?
    var message: String?
    var accessKeyID: String?
    var secretAccessKey: String?
    var token: String?
    var sessionToken: String?
    var expiration: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version", code = "Code", message = "Message", accessKeyID = "AccessKeyId"
        case secretAccessKey = "SecretAccessKey", token = "Token", sessionToken = "SessionToken"
        case expiration = "Expiration"
    }

    /// Decodes and validates; `provider` names the source in errors. Credentials that are
    /// already expired are refused (signing with them could only fail later, less clearly),
    /// unless the provider extends them (`acceptingExpired`, IMDS).
    static func credentials(from text: String, provider: String, now: Date = Date(), acceptingExpired: Bool = false) throws -> AWSCredentials {
        let document: CredentialDocument
        do {
            document = try JSONDecoder().decode(CredentialDocument.self, from: Data(text.utf8))
        } catch {
            throw CredentialProviderError.failed(provider: provider, reason: "answer is not a credentials JSON document")
        }
        if let code = document.code, code != "Success" {
            throw CredentialProviderError.failed(
                provider: provider, reason: "answer has Code \(code): \(document.message ?? "no message")")
        }
        guard let keyID = document.accessKeyID, !keyID.isEmpty,
            let secret = document.secretAccessKey, !secret.isEmpty
        else {
            throw CredentialProviderError.failed(provider: provider, reason: "answer lacks AccessKeyId or SecretAccessKey")
        }
        var expiration: Date?
        if let text = document.expiration {
            guard let parsed = ISO8601.parse(text) else {
                throw CredentialProviderError.failed(provider: provider, reason: "Expiration \(text) is not an ISO 8601 time")
            }
            guard parsed > now || acceptingExpired else {
                throw CredentialProviderError.failed(provider: provider, reason: "credentials already expired at \(text)")
            }
            expiration = parsed
        }
        return AWSCredentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: document.token ?? document.sessionToken,
            expiration: expiration, source: provider)
    }
}

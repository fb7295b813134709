import Foundation
import NIOCore
import NIOHTTP1

/// The two STS calls the chain needs, against the regional endpoint
/// (`https://sts[-fips].REGION.amazonaws.com`, other partitions' suffixes) unless a configured endpoint
/// (`AWS_ENDPOINT_URL_STS`, the profile's `services` or `endpoint_url`) points elsewhere.
struct STSClient: Sendable {
    let region: String?
    let http: CredentialHTTPClient
    let timeout: TimeAmount
    /// Resolved once: a configured endpoint means reading the shared files.
    let endpoint: String

    /// `profile`: the profile whose configured endpoints apply.
    init(environment: AWSEnvironment, profile: String, region: String?, http: CredentialHTTPClient, timeout: TimeAmount) {
        self.region = region
        self.http = http
        self.timeout = timeout
        if let override = environment.endpointOverride(serviceEnvironmentName: "STS", profile: profile) {
            endpoint = override
        } else if let region {
            endpoint = ServiceEndpoint.regional("sts", region: region, fips: ServiceEndpoint.usesFIPS(environment, profile: profile))
        } else {
            endpoint = "https://sts.amazonaws.com"
        }
    }

    func assumeRole(
        roleARN: String, sessionName: String, externalID: String?, durationSeconds: Int?,
        using source: AWSCredentials, provider: String
    ) async throws -> AWSCredentials {
        var form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { form.append(("ExternalId", externalID)) }
        if let durationSeconds { form.append(("DurationSeconds", String(durationSeconds))) }
        let body = Self.formEncode(form)
        guard let url = URL(string: endpoint), let host = url.host else {
            throw CredentialProviderError.failed(provider: provider, reason: "STS endpoint \(endpoint) is not a URL")
        }
        let contentType = "application/x-www-form-urlencoded; charset=utf-8"
        let headers = SigV4HeaderSigner(service: "sts", region: region ?? "us-east-1").signedHeaders(
            method: "POST", host: host, port: url.port, path: url.path.isEmpty ? "/" : url.path,
            contentType: contentType, body: body, credentials: source, date: Date())
        return try await call(body: body, headers: headers.map { ($0.name, $0.value) }, provider: provider)
    }

    /// Unsigned: the web identity token is the proof.
    func assumeRoleWithWebIdentity(
        roleARN: String, sessionName: String, webIdentityToken: String, provider: String
    ) async throws -> AWSCredentials {
        let body = Self.formEncode([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", webIdentityToken),
        ])
        return try await call(
            body: body, headers: [("content-type", "application/x-www-form-urlencoded; charset=utf-8")], provider: provider)
    }

    private func call(body: String, headers: [(String, String)], provider: String) async throws -> AWSCredentials {
        let response: CredentialHTTPClient.Response
        do {
            response = try await http.send(.POST, endpoint, headers: headers, body: body, timeout: timeout)
        } catch {
            throw CredentialProviderError.failed(provider: provider, reason: "STS \(endpoint): \(error)")
        }
        guard response.status == 200 else {
            let code = XMLText.first("Code", in: response.body) ?? "HTTP \(response.status)"
            let message = XMLText.first("Message", in: response.body) ?? "no message"
            throw CredentialProviderError.failed(provider: provider, reason: "STS refused: \(code): \(message)")
        }
        guard let keyID = XMLText.first("AccessKeyId", in: response.body),
            let secret = XMLText.first("SecretAccessKey", in: response.body),
            let token = XMLText.first("SessionToken", in: response.body),
            let expirationText = XMLText.first("Expiration", in: response.body),
            let expiration = ISO8601.parse(expirationText)
        else {
            throw CredentialProviderError.failed(provider: provider, reason: "STS answer is not a credentials document")
        }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration, source: provider)
    }

    static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
    }
}

/// Reads the text of the first `<Name>…</Name>` element. STS answers are small and flat
/// enough that this is all the XML the providers need.
enum XMLText {
    static func first(_ name: String, in document: String) -> String? {
        guard let open = document.range(of: "<\(name)>"),
            let close = document.range(of: "</\(name)>", range: open.upperBound..<document.endIndex)
        else { return nil }
        return unescape(String(document[open.upperBound..<close.lowerBound]))
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

import Foundation

/// SigV4 signing with an `Authorization` header, for the few AWS API calls the credential
/// providers make (STS AssumeRole, Secrets Manager GetSecretValue). Signs `host`, `x-amz-date`,
/// `content-type`, any `extraHeaders` (`x-amz-target`) and, with temporary credentials,
/// `x-amz-security-token`, in the canonical (sorted) order.
public struct SigV4HeaderSigner: Sendable {
    public var service: String
    public var region: String

    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    /// Returns the headers to add to a request for `https://host[:port]path` with `body`.
    public func signedHeaders(
        method: String, host: String, port: Int?, path: String, contentType: String, body: String,
        credentials: AWSCredentials, date: Date, extraHeaders: [(name: String, value: String)] = []
    ) -> [(name: String, value: String)] {
        let amzDate = AmzDate(date)
        let scope = SigV4.Scope(day: amzDate.day, region: region, service: service)
        var headers: [(String, String)] = [
            ("content-type", contentType),
            ("host", SigV4.canonicalHost(host: host, port: port)),
            ("x-amz-date", amzDate.timestamp),
        ]
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        headers += extraHeaders.map { ($0.name.lowercased(), $0.value) }
        headers.sort { $0.0 < $1.0 }
        let signedNames = headers.map(\.0).joined(separator: ";")
        let canonicalHeaders = headers.map { "\($0.0):\($0.1.trimmingCharacters(in: .whitespaces))\n" }.joined()
        let canonicalRequest = [
            method, path.isEmpty ? "/" : path, "", canonicalHeaders, signedNames, SigV4.sha256Hex(body),
        ].joined(separator: "\n")
        let signature = SigV4.signature(
            canonicalRequest: canonicalRequest, timestamp: amzDate.timestamp, scope: scope,
            secret: credentials.secretAccessKey)
        let authorization = "\(SigV4.algorithm) Credential=\(credentials.accessKeyID)/\(scope.string), "
            + "SignedHeaders=\(signedNames), Signature=\(signature)"
        return headers.filter { $0.0 != "host" } + [("authorization", authorization)]
    }
}

import Crypto
import Foundation

/// AWS Signature Version 4: the derived signing key and the string-to-sign, shared by the
/// query presigner (auth tokens) and the header signer (STS calls).
enum SigV4 {
    static let algorithm = "AWS4-HMAC-SHA256"
    /// SHA-256 of the empty string: the payload hash of an RDS/DSQL token (botocore signs the
    /// empty body, not `UNSIGNED-PAYLOAD`).
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    struct Scope {
        let day: Substring
        let region: String
        let service: String
        var string: String { "\(day)/\(region)/\(service)/aws4_request" }
    }

    static func sha256Hex(_ text: String) -> String {
        Hex.lowercase(SHA256.hash(data: Array(text.utf8)))
    }

    static func signingKey(secret: String, scope: Scope) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [String(scope.day), scope.region, scope.service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    static func signature(
        canonicalRequest: String, timestamp: String, scope: Scope, secret: String
    ) -> String {
        let stringToSign = "\(algorithm)\n\(timestamp)\n\(scope.string)\n\(sha256Hex(canonicalRequest))"
        let key = signingKey(secret: secret, scope: scope)
        return Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    /// The value of the canonical `host` header: lower-cased, with the port dropped only when
    /// it is 443 (botocore's rule for https URLs).
    static func canonicalHost(host: String, port: Int?) -> String {
        let lowered = host.lowercased()
        guard let port, port != 443 else { return lowered }
        return "\(lowered):\(port)"
    }
}

import Crypto
import Foundation
import Synchronization

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
        signature(canonicalRequestHash: sha256Hex(canonicalRequest), timestamp: timestamp, scope: scope, secret: secret)
    }

    static func signature(canonicalRequestHash: String, timestamp: String, scope: Scope, secret: String) -> String {
        let stringToSign = "\(algorithm)\n\(timestamp)\n\(scope.string)\n\(canonicalRequestHash)"
        let key = SigningKeyCache.shared.key(secret: secret, scope: scope)
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

/// The derived signing key depends only on the secret, the day, the region and the service, so
/// the last one is kept: four HMACs saved on every signing for the rest of the day.
final class SigningKeyCache: Sendable {
    static let shared = SigningKeyCache()

    private struct Entry {
        let secret: String
        let scope: String
        let key: SymmetricKey
    }

    private let last = Mutex<Entry?>(nil)

    func key(secret: String, scope: SigV4.Scope) -> SymmetricKey {
        // The secret is already held by the credentials cache; keeping one more reference to
        // the same string adds no exposure.
        let scopeString = scope.string
        if let entry = last.withLock({ $0 }), entry.scope == scopeString, entry.secret == secret {
            return entry.key
        }
        let key = SigV4.signingKey(secret: secret, scope: scope)
        last.withLock { $0 = Entry(secret: secret, scope: scopeString, key: key) }
        return key
    }
}

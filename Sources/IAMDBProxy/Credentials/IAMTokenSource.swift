import AWSAuth
import Logging
import Foundation

/// IAM database authentication: the password is an RDS auth token for the host dialed (unless
/// `iam_host` / `iam_default_port` name another) and the listener's region, signed from the
/// proxy's credentials chain and cached.
struct IAMTokenSource: LoginCredentialSource {
    let tokens: TokenCache
    /// `iam_host`: the host every token is signed for, whatever host is dialed.
    let signingHost: String?
    /// `iam_default_port`: likewise for the port.
    let signingPort: Int?
    let region: String
    /// How long a token is reused (`iam_expiration`).
    let lifetime: TimeInterval

    func password(for user: String, at server: HostAndPort) async throws -> LoginPassword {
        let request = RDSTokenRequest(host: signingHost ?? server.host, port: signingPort ?? server.port, user: user, region: region)
        let issued: IssuedToken
        do {
            issued = try await tokens.token(for: request, lifetime: lifetime)
        } catch {
            throw PasswordUnavailable(description: "could not sign an IAM auth token: \(error)")
        }
        return LoginPassword(
            secret: issued.token, wasCached: issued.wasCached,
            logMetadata: [
                "credential": "iam_token", "provider": "\(issued.credentialSource)", "access_key_id": "\(issued.key.accessKeyID)",
                "region": "\(issued.key.region)", "signing_host": "\(issued.key.host)", "signing_port": "\(issued.key.port)",
            ],
            // The credentials may be what was revoked or rotated: a token re-signed in the same
            // second with them would be byte-identical.
            forget: { [tokens] in
                tokens.invalidate(issued.key)
                tokens.credentials.invalidate()
            })
    }
}

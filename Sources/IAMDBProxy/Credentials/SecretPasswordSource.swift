import AWSAuth
import Foundation
import Logging
import Synchronization

/// Secrets Manager users (`auth: secret`): the password is the one in a secret's JSON, fetched
/// with `GetSecretValue` signed from the proxy's credentials chain and kept for
/// `cache_seconds`. A cached password the server refuses (a rotation) earns the login one retry
/// with the secret fetched again. Only the secret's own user gets its password.
final class SecretPasswordSource: LoginCredentialSource {
    struct UserMismatch: Error, CustomStringConvertible {
        let secretID: String
        let user: String
        var description: String { "secret \(secretID) holds the password of another user than \(user); connect as the secret's user" }
    }

    private struct Cached {
        let secret: SecretsManagerClient.Secret
        let fetchedAt: Date
    }

    let settings: ListenerConfiguration.SecretSettings
    let client: SecretsManagerClient
    let credentials: CredentialCache
    let now: @Sendable () -> Date
    private let cached = Mutex<Cached?>(nil)

    init(settings: ListenerConfiguration.SecretSettings, client: SecretsManagerClient, credentials: CredentialCache,
         now: @escaping @Sendable () -> Date = Date.init) {
        self.settings = settings
        self.client = client
        self.credentials = credentials
        self.now = now
    }

    func password(for user: String) async throws -> LoginPassword {
        let current = now()
        let fresh = cached.withLock { entry in entry.flatMap { current.timeIntervalSince($0.fetchedAt) < settings.cacheSeconds ? $0 : nil } }
        let secret: SecretsManagerClient.Secret
        if let fresh {
            secret = fresh.secret
        } else {
            do {
                let signing = try await credentials.credentials()
                secret = try await client.secret(id: settings.secretID, versionStage: settings.versionStage, credentials: signing)
            } catch {
                throw PasswordUnavailable(description: "could not read the password from Secrets Manager: \(error)")
            }
            cached.withLock { $0 = Cached(secret: secret, fetchedAt: current) }
        }
        guard secret.username == user else { throw PasswordUnavailable(description: "\(UserMismatch(secretID: settings.secretID, user: user))") }
        let versionID = secret.versionID
        return LoginPassword(
            secret: secret.password, wasCached: fresh != nil,
            logMetadata: [
                "credential": "secret", "secret_id": "\(settings.secretID)", "version_stage": "\(settings.versionStage)",
                "version_id": "\(versionID ?? "?")",
            ],
            // Refused: the secret may have been rotated; the next login fetches it again.
            forget: { [self] in cached.withLock { entry in if entry?.secret.versionID == versionID { entry = nil } } })
    }
}

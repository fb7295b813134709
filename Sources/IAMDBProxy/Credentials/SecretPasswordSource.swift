import AWSAuth
import Foundation
import Logging
import Synchronization

/// Secrets Manager users (`auth: secret`): the password is the one in a secret's JSON, fetched
/// with `GetSecretValue` signed from the proxy's credentials chain and kept for
/// `cache_seconds`. A refused password (a rotation) earns the login one retry: with the secret
/// fetched again, or — when the fetch gives back the very password the server just refused —
/// with the `AWSPENDING` version, which the database holds between a rotation's `setSecret`
/// and `finishSecret` steps. Only the secret's own user gets its password.
final class SecretPasswordSource: LoginCredentialSource {
    static let currentStage = "AWSCURRENT"
    static let pendingStage = "AWSPENDING"

    private struct State {
        var cached: (secret: SecretsManagerClient.Secret, stage: String, fetchedAt: Date)?
        /// The last password a server refused, so that fetching it again moves on to AWSPENDING.
        var refusedPassword: String?
        /// The fetch under way: logins that find the cache empty at once share one request.
        var fetching: Task<(SecretsManagerClient.Secret, String), any Error>?
    }

    let settings: ListenerConfiguration.SecretSettings
    let client: SecretsManagerClient
    let credentials: CredentialCache
    let now: @Sendable () -> Date
    private let state = Mutex(State())

    init(settings: ListenerConfiguration.SecretSettings, client: SecretsManagerClient, credentials: CredentialCache,
         now: @escaping @Sendable () -> Date = Date.init) {
        self.settings = settings
        self.client = client
        self.credentials = credentials
        self.now = now
    }

    func password(for user: String, at server: HostAndPort) async throws -> LoginPassword {
        let current = now()
        let (fresh, fetching) = state.withLock { state -> ((SecretsManagerClient.Secret, String)?, Task<(SecretsManagerClient.Secret, String), any Error>?) in
            if let cached = state.cached, current.timeIntervalSince(cached.fetchedAt) < settings.cacheSeconds { return ((cached.secret, cached.stage), nil) }
            if let task = state.fetching { return (nil, task) }
            let task = Task { [self] in
                defer { self.state.withLock { $0.fetching = nil } }
                return try await fetch(at: current)
            }
            state.fetching = task
            return (nil, task)
        }
        let (secret, stage) = if let fresh { fresh } else { try await fetching!.value }
        guard secret.username == user else {
            throw PasswordUnavailable(
                description: "secret \(settings.secretID) holds the password of another user than \(user); connect as the secret's user",
                refusesUser: true)
        }
        let password = secret.password
        return LoginPassword(
            secret: password,
            // A fresh AWSCURRENT the server refuses may be mid-rotation: AWSPENDING is the retry.
            wasCached: fresh != nil || stage == Self.currentStage,
            logMetadata: [
                "credential": "secret", "secret_id": "\(settings.secretID)", "version_stage": "\(stage)",
                "version_id": "\(secret.versionID ?? "?")",
            ],
            forget: { [self] in
                state.withLock { state in
                    state.refusedPassword = password
                    if state.cached?.secret.password == password { state.cached = nil }
                }
            })
    }

    /// The configured stage, or AWSPENDING when that gives back the password just refused.
    private func fetch(at date: Date) async throws -> (SecretsManagerClient.Secret, String) {
        do {
            let signing = try await credentials.credentials()
            var stage = settings.versionStage
            var secret = try await client.secret(id: settings.secretID, versionStage: stage, credentials: signing)
            let refused = state.withLock { $0.refusedPassword }
            if secret.password == refused, stage == Self.currentStage,
               let pending = try? await client.secret(id: settings.secretID, versionStage: Self.pendingStage, credentials: signing),
               pending.password != refused
            {
                (secret, stage) = (pending, Self.pendingStage)
            }
            state.withLock { $0.cached = (secret, stage, date) }
            return (secret, stage)
        } catch {
            throw PasswordUnavailable(description: "could not read the password from Secrets Manager: \(error)")
        }
    }
}

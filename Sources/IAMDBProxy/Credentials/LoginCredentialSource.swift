import Logging

/// Where a listener's logins get the password they answer the database server with. A seam
/// because the answer differs by listener: an IAM token signed from the AWS credentials chain
/// today, a password kept in Secrets Manager next. Sessions, the MySQL KILL side login and
/// `check --connect` all ask here, so a new source gets the cache-refusal retry for free.
protocol LoginCredentialSource: Sendable {
    /// The password for `user` logging in to `server` (the host dialed: the configured endpoint,
    /// or an instance a topology chose), from a cache when one is still good.
    func password(for user: String, at server: HostAndPort) async throws -> LoginPassword
}

/// Why a source has no password, in words that follow "iam-db-proxy " in the client's error
/// ("could not sign an IAM auth token: …", "could not read the password from Secrets Manager: …").
struct PasswordUnavailable: Error, CustomStringConvertible {
    let description: String
    /// Not a passing failure: this source never answers for this user (28000, not 08001).
    var refusesUser = false
}

/// One password for one login, and what to do if the server refuses it.
struct LoginPassword: Sendable {
    let secret: String
    /// Came from a cache: a refusal earns one retry with a fresh password.
    let wasCached: Bool
    /// Which identity made it, for debug lines; never the secret.
    let logMetadata: Logger.Metadata
    /// Forgets this password (and what it was made from), so the next request makes a new one.
    let forget: @Sendable () -> Void
}

extension LoginPassword: CustomStringConvertible {
    /// Never the secret, even when interpolated by mistake.
    var description: String { "LoginPassword(cached: \(wasCached))" }
}

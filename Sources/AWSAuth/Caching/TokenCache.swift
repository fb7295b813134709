import Foundation
import Synchronization

/// A token, and whether it came from the cache (a cached token that the server rejects is
/// worth one retry with a fresh one; a fresh token that fails is reported).
public struct IssuedToken: Sendable {
    public let token: String
    public let key: TokenCache.Key
    public let wasCached: Bool
    /// The credentials provider that served the signing identity (`environment`, `sso`, ...).
    public let credentialSource: String
}

/// Caches RDS auth tokens per (credential identity, region, host, port, user). A token is
/// reused for `lifetime` (default 870 s of its 900 s validity) but never past the expiry of the
/// credentials that signed it, less `credentialMargin`: a signature made with temporary
/// credentials dies with them. RDS throttles new IAM authentications, not reused tokens.
public final class TokenCache: Sendable {
    public struct Key: Hashable, Sendable {
        public let accessKeyID: String
        public let region: String
        public let host: String
        public let port: Int
        public let user: String
    }

    private struct Entry {
        let token: String
        let validUntil: Date
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var signings = 0
        var hits = 0
    }

    public static let defaultLifetime: TimeInterval = 870
    public let credentials: CredentialCache
    let lifetime: TimeInterval
    let credentialMargin: TimeInterval
    let now: @Sendable () -> Date
    private let state = Mutex(State())

    public init(
        credentials: CredentialCache, lifetime: TimeInterval = TokenCache.defaultLifetime,
        credentialMargin: TimeInterval = 60, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.credentials = credentials
        self.lifetime = lifetime
        self.credentialMargin = credentialMargin
        self.now = now
    }

    public var statistics: (signings: Int, hits: Int) { state.withLock { ($0.signings, $0.hits) } }

    public func token(for request: RDSTokenRequest, lifetime requestedLifetime: TimeInterval? = nil) async throws -> IssuedToken {
        let signer = try await credentials.credentials()
        let key = Key(accessKeyID: signer.accessKeyID, region: request.region, host: request.host, port: request.port, user: request.user)
        let current = now()
        return state.withLock { state in
            if let entry = state.entries[key], entry.validUntil > current {
                state.hits += 1
                return IssuedToken(token: entry.token, key: key, wasCached: true, credentialSource: signer.source)
            }
            let token = RDSAuthToken.make(for: request, credentials: signer, date: current)
            state.signings += 1
            var validUntil = current.addingTimeInterval(min(requestedLifetime ?? lifetime, TimeInterval(RDSAuthToken.lifetime)))
            if let expiration = signer.expiration {
                validUntil = min(validUntil, expiration.addingTimeInterval(-credentialMargin))
            }
            state.entries[key] = Entry(token: token, validUntil: validUntil)
            if state.entries.count > 1024 { state.entries = state.entries.filter { $0.value.validUntil > current } }
            return IssuedToken(token: token, key: key, wasCached: false, credentialSource: signer.source)
        }
    }

    /// Drops one entry, so that the next request for it signs a fresh token.
    public func invalidate(_ key: Key) {
        state.withLock { _ = $0.entries.removeValue(forKey: key) }
    }
}

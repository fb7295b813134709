import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import AWSAuth

/// A provider that counts fetches and answers from a script of results.
final class ScriptedProvider: CredentialProvider, Sendable {
    let name = "scripted"
    private let script: NIOLockedValueBox<[Result<AWSCredentials, CredentialProviderError>]>
    private let calls = NIOLockedValueBox(0)
    let delay: Duration

    init(_ results: [Result<AWSCredentials, CredentialProviderError>], delay: Duration = .zero) {
        script = NIOLockedValueBox(results)
        self.delay = delay
    }

    var fetches: Int { calls.withLockedValue { $0 } }

    func credentials() async throws -> AWSCredentials {
        calls.withLockedValue { $0 += 1 }
        if delay > .zero { try await Task.sleep(for: delay) }
        let next = script.withLockedValue { $0.count > 1 ? $0.removeFirst() : $0[0] }
        return try next.get()
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current = NIOLockedValueBox(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLockedValue { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLockedValue { $0 += seconds } }
    var function: @Sendable () -> Date { { self.now } }
}

@Suite struct CacheTests {
    func temporary(_ key: String, expiresAt: Date) -> AWSCredentials {
        AWSCredentials(accessKeyID: key, secretAccessKey: "s", sessionToken: "t", expiration: expiresAt, source: "scripted")
    }

    let request = RDSTokenRequest(host: "db.abc.us-east-1.rds.amazonaws.com", port: 5432, user: "app", region: "us-east-1")

    @Test func thousandConcurrentRequestsSignOnce() async throws {
        let provider = ScriptedProvider([.success(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"))], delay: .milliseconds(50))
        let cache = TokenCache(credentials: CredentialCache(provider: provider))
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<1000 { group.addTask { try await cache.token(for: request).token } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(tokens.count == 1)
        #expect(cache.statistics.signings == 1)
        #expect(cache.statistics.hits == 999)
        #expect(provider.fetches == 1)
    }

    @Test func tokenLifetimeAndInvalidation() async throws {
        let clock = ManualClock()
        let provider = ScriptedProvider([.success(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"))])
        let cache = TokenCache(credentials: CredentialCache(provider: provider, now: clock.function), now: clock.function)
        let first = try await cache.token(for: request)
        #expect(!first.wasCached)
        clock.advance(869)
        #expect(try await cache.token(for: request).wasCached)
        clock.advance(2)
        let renewed = try await cache.token(for: request)
        #expect(!renewed.wasCached && renewed.token != first.token)
        cache.invalidate(renewed.key)
        #expect(try await !cache.token(for: request).wasCached)
        var other = request
        other.user = "other"
        #expect(try await !cache.token(for: other).wasCached)
        #expect(cache.statistics.signings == 4)
    }

    @Test func tokenNeverOutlivesItsCredentials() async throws {
        let clock = ManualClock()
        // Credentials valid for 11 more minutes: outside the mandatory refresh window.
        let provider = ScriptedProvider([.success(temporary("ASIA1", expiresAt: clock.now.addingTimeInterval(660)))])
        let credentials = CredentialCache(provider: provider, windows: .init(advisory: 300, mandatory: 120), now: clock.function)
        let cache = TokenCache(credentials: credentials, credentialMargin: 60, now: clock.function)
        _ = try await cache.token(for: request)
        clock.advance(599)
        #expect(try await cache.token(for: request).wasCached)
        clock.advance(2)  // past expiry minus margin, though well inside 870 s
        #expect(try await !cache.token(for: request).wasCached)
    }

    @Test func advisoryWindowRefreshesInBackground() async throws {
        let clock = ManualClock()
        let provider = ScriptedProvider([
            .success(temporary("ASIA1", expiresAt: clock.now.addingTimeInterval(3600))),
            .success(temporary("ASIA2", expiresAt: clock.now.addingTimeInterval(7200))),
        ])
        let cache = CredentialCache(provider: provider, now: clock.function)
        #expect(try await cache.credentials().accessKeyID == "ASIA1")
        clock.advance(3600 - 12 * 60)  // 12 minutes left: advisory, not mandatory
        #expect(try await cache.credentials().accessKeyID == "ASIA1")
        // The background refresh lands; wait for it through the provider's counter.
        while cache.statistics.fetches < 2 { await Task.yield() }
        #expect(try await cache.credentials().accessKeyID == "ASIA2")
    }

    /// Credentials that come back still inside the advisory window (IMDS extending stale ones
    /// through an outage) start at most one background refresh a minute, not one per login.
    @Test func backgroundRefreshesStartAtMostOnceAMinute() async throws {
        let clock = ManualClock()
        let stale = temporary("ASIASTALE", expiresAt: clock.now.addingTimeInterval(12 * 60))
        let provider = ScriptedProvider(Array(repeating: .success(stale), count: 10))
        let cache = CredentialCache(provider: provider, now: clock.function)
        _ = try await cache.credentials()
        for _ in 0..<20 { _ = try await cache.credentials() }
        while cache.statistics.fetches < 2 { await Task.yield() }
        for _ in 0..<20 { _ = try await cache.credentials() }
        #expect(cache.statistics.fetches == 2, "one fetch, then one background refresh within the minute")
        clock.advance(61)
        _ = try await cache.credentials()
        while cache.statistics.fetches < 3 { await Task.yield() }
        #expect(cache.statistics.fetches == 3)
    }

    @Test func failedRefreshKeepsValidCredentialsButNeverExpiredOnes() async throws {
        let clock = ManualClock()
        let provider = ScriptedProvider([
            .success(temporary("ASIA1", expiresAt: clock.now.addingTimeInterval(3600))),
            .failure(.failed(provider: "scripted", reason: "STS down")),
        ])
        let cache = CredentialCache(provider: provider, now: clock.function)
        _ = try await cache.credentials()
        clock.advance(3600 - 5 * 60)  // mandatory window: the caller waits for the refresh, which fails
        #expect(try await cache.credentials().accessKeyID == "ASIA1")
        #expect(cache.statistics.failures == 1)
        clock.advance(5 * 60 + 1)  // now expired
        await #expect(throws: CredentialProviderError.failed(provider: "scripted", reason: "STS down")) { try await cache.credentials() }
    }

    @Test func providerReturningExpiredCredentialsIsAnError() async throws {
        let clock = ManualClock()
        let provider = ScriptedProvider([.success(temporary("ASIA1", expiresAt: clock.now.addingTimeInterval(-1)))])
        await #expect { try await CredentialCache(provider: provider, now: clock.function).credentials() } throws: {
            "\($0)".contains("already expired")
        }
    }
}

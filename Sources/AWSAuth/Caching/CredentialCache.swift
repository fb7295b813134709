import Foundation
import Logging
import Synchronization

/// Caches the credentials of a provider and refreshes temporary ones ahead of expiry, the way
/// botocore does: inside the advisory window (15 min) one background refresh starts while the
/// current credentials keep serving; inside the mandatory window (10 min) callers wait for the
/// refresh. Concurrent callers share one in-flight fetch. A failed refresh keeps using
/// credentials that are still valid (with a warning); expired credentials are never returned.
/// Background refreshes start at most once a minute: credentials that come back still inside
/// the advisory window (IMDS extending stale ones through an outage) must not make every login
/// ask again.
public final class CredentialCache: Sendable {
    public struct Windows: Sendable {
        public var advisory: TimeInterval = 15 * 60
        public var mandatory: TimeInterval = 10 * 60
        /// The least time between two background (advisory) refreshes.
        public var advisoryRetryInterval: TimeInterval = 60
        public init() {}
        public init(advisory: TimeInterval, mandatory: TimeInterval) {
            self.advisory = advisory
            self.mandatory = mandatory
        }
    }

    private struct State {
        var cached: AWSCredentials?
        var inflight: Task<AWSCredentials, any Error>?
        var lastAdvisoryRefresh: Date?
        var fetches = 0
        var failures = 0
        var byProvider: [String: (fetches: Int, failures: Int)] = [:]
    }

    private enum Decision {
        case use(AWSCredentials)
        case wait(Task<AWSCredentials, any Error>)
    }

    public let provider: any CredentialProvider
    let windows: Windows
    let now: @Sendable () -> Date
    let logger: Logger
    private let state = Mutex(State())

    public init(
        provider: any CredentialProvider, windows: Windows = .init(), logger: Logger = Logger(label: "iam-db-proxy.credentials"),
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.provider = provider
        self.windows = windows
        self.logger = logger
        self.now = now
    }

    /// How many fetches the provider has been asked for, and how many failed.
    public var statistics: (fetches: Int, failures: Int) { state.withLock { ($0.fetches, $0.failures) } }

    /// Successful and failed fetches by the provider that answered (or `chain` when none did).
    public var statisticsByProvider: [String: (fetches: Int, failures: Int)] { state.withLock { $0.byProvider } }

    /// When the credentials held now expire (nil: none held, or long-term keys).
    public var cachedExpiration: Date? { state.withLock { $0.cached?.expiration } }

    /// Unexpired credentials are held now (without asking the provider).
    public var holdsUsableCredentials: Bool { state.withLock { state in state.cached.map { !$0.isExpired(at: now()) } ?? false } }

    public func credentials() async throws -> AWSCredentials {
        let current = now()
        let decision: Decision = state.withLock { state in
            if let cached = state.cached {
                guard let expiration = cached.expiration else { return .use(cached) }
                let remaining = expiration.timeIntervalSince(current)
                if remaining > windows.advisory { return .use(cached) }
                if remaining > windows.mandatory {
                    let due = state.lastAdvisoryRefresh.map { current.timeIntervalSince($0) >= windows.advisoryRetryInterval } ?? true
                    if state.inflight == nil, due {
                        state.lastAdvisoryRefresh = current
                        state.inflight = startFetch()
                    }
                    return .use(cached)
                }
            }
            if let inflight = state.inflight { return .wait(inflight) }
            let task = startFetch()
            state.inflight = task
            return .wait(task)
        }
        switch decision {
        case .use(let credentials):
            return credentials
        case .wait(let task):
            return try await task.value
        }
    }

    /// Forgets the cached credentials (for example after the server rejected a fresh token).
    public func invalidate() {
        state.withLock { $0.cached = nil }
    }

    private func startFetch() -> Task<AWSCredentials, any Error> {
        Task { [self] in
            let outcome: Result<AWSCredentials, any Error>
            do {
                outcome = .success(try await provider.credentials())
            } catch {
                outcome = .failure(error)
            }
            return try state.withLock { state -> AWSCredentials in
                state.inflight = nil
                state.fetches += 1
                switch outcome {
                case .success(let fresh):
                    if fresh.isExpired(at: now()) {
                        state.failures += 1
                        state.byProvider[fresh.source, default: (0, 0)].failures += 1
                        throw CredentialProviderError.failed(provider: fresh.source, reason: "returned credentials that are already expired")
                    }
                    state.cached = fresh
                    state.byProvider[fresh.source, default: (0, 0)].fetches += 1
                    return fresh
                case .failure(let error):
                    state.failures += 1
                    let provider: String = if case .failed(let name, _) = error as? CredentialProviderError { name } else { "chain" }
                    state.byProvider[provider, default: (0, 0)].failures += 1
                    if let cached = state.cached, !cached.isExpired(at: now()) {
                        logger.warning(
                            "refreshing AWS credentials failed; still using the current ones until they expire",
                            metadata: ["error": "\(error)", "expires": "\(cached.expiration.map { "\($0)" } ?? "never")"])
                        return cached
                    }
                    state.cached = nil
                    throw error
                }
            }
        }
    }
}

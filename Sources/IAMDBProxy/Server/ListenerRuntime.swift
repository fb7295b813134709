import AWSAuth
import Foundation
import Logging
import NIOCore
import Synchronization

/// Everything a session of one listener needs, built once when the listener starts.
final class ListenerRuntime: Sendable {
    let configuration: ListenerConfiguration
    let region: String
    let upstreamTLS: UpstreamTLSContext
    let clientTLS: ClientTLSContext?
    let tokens: TokenCache
    let cancelRegistry: CancelRegistry
    let mysqlSessions: MySQLSessionRegistry
    /// What MySQL clients of this listener are told about the server.
    let mysqlGreeting = MySQLGreetingCache()
    let metrics: ProxyMetrics
    /// Bytes relayed after login, client to server and back.
    let bytesUp = ByteCounter()
    let bytesDown = ByteCounter()
    let logger: Logger
    private let nextConnectionID = Atomic<Int>(1)
    private let openSessions = Atomic<Int>(0)

    init(configuration: ListenerConfiguration, defaultRegion: String?, tokens: TokenCache, cancelRegistry: CancelRegistry,
         mysqlSessions: MySQLSessionRegistry, limits: ConnectionLimits, metrics: ProxyMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.limits = limits
        region = try RegionResolution.region(explicit: configuration.iamRegion, host: configuration.signingHost, fallback: defaultRegion)
        upstreamTLS = try UpstreamTLSContext(
            configuration.tls, upstreamHost: configuration.upstream.host, isIPAddress: configuration.upstream.isIPAddress)
        clientTLS = try configuration.clientTLS.map { try ClientTLSContext($0, alpn: configuration.engine.behaviour.clientALPN) }
        self.tokens = tokens
        self.cancelRegistry = cancelRegistry
        self.mysqlSessions = mysqlSessions
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "listener"] = "\(configuration.name)"
        self.logger = logger
    }

    func makeConnectionID() -> Int { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var connectTimeout: TimeAmount { .milliseconds(Int64(configuration.connectTimeoutSeconds * 1000)) }
    var handshakeTimeout: TimeAmount { .milliseconds(Int64(configuration.handshakeTimeoutSeconds * 1000)) }

    func tokenRequest(user: String) -> RDSTokenRequest {
        RDSTokenRequest(host: configuration.signingHost, port: configuration.signingPort, user: user, region: region)
    }

    /// Gets a token for `user` (cached or freshly signed) and delivers it on `eventLoop`.
    func fetchToken(user: String, on eventLoop: any EventLoop,
                    _ deliver: @escaping @Sendable (Result<IssuedToken, any Error>) -> Void) {
        let request = tokenRequest(user: user)
        let lifetime = TimeInterval(configuration.iamExpiration)
        Task { [tokens] in
            let result: Result<IssuedToken, any Error>
            do { result = .success(try await tokens.token(for: request, lifetime: lifetime)) } catch { result = .failure(error) }
            eventLoop.execute { deliver(result) }
        }
    }

    /// Before a retry: the token was refused, and the credentials may be what was revoked or
    /// rotated (a token re-signed in the same second with them would be byte-identical).
    func forgetToken(_ key: TokenCache.Key?) {
        if let key { tokens.invalidate(key) }
        tokens.credentials.invalidate()
    }

    let limits: ConnectionLimits

    /// Counts a new session; false when it exceeds this listener's or the proxy's limit
    /// (the session is still counted until it closes).
    func sessionOpened(_ channel: any Channel) -> Bool {
        let listenerCount = openSessions.wrappingAdd(1, ordering: .relaxed).newValue
        let overallCount = limits.sessions.opened(channel)
        let listenerOK = configuration.maxConnections.map { listenerCount <= $0 } ?? true
        let overallOK = limits.maxOverall.map { overallCount <= $0 } ?? true
        return listenerOK && overallOK
    }

    var openSessionCount: Int { openSessions.load(ordering: .relaxed) }

    /// Counts a problem reaching the upstream during login (connect, tls, timeout, closed).
    func upstreamFailed(reason: String) {
        metrics.increment(ProxyMetrics.upstreamFailures, [("listener", configuration.name), ("reason", reason)])
    }

    func sessionClosed(_ channel: any Channel) {
        openSessions.wrappingSubtract(1, ordering: .relaxed)
        limits.sessions.closed(channel)
    }
}

/// The proxy-wide limit and the open sessions themselves, shared by every listener.
final class ConnectionLimits: Sendable {
    let maxOverall: Int?
    let sessions = SessionTracker()

    init(maxOverall: Int?) { self.maxOverall = maxOverall }
}

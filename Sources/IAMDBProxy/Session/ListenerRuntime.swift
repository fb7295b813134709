import AWSAuth
import Foundation
import Logging
import NIOCore
import Synchronization

/// Everything a session of one listener needs, whatever the engine, built once when the
/// listener starts: its settings, where its passwords come from, how to reach its server,
/// its limits and counters. Engine-specific state (cancel keys, KILL ids, the MySQL greeting)
/// lives with the engine, not here.
final class ListenerRuntime: Sendable {
    let configuration: ListenerConfiguration
    let region: String
    let upstreamTLS: UpstreamTLSContext
    let clientTLS: ClientTLSContext?
    let credentials: any LoginCredentialSource
    let resolver: any UpstreamResolver
    /// How this listener's sessions reach their server.
    let upstreamDial: UpstreamDial
    let metrics: ProxyMetrics
    /// Bytes relayed after login, client to server and back.
    let bytesUp = ByteCounter()
    let bytesDown = ByteCounter()
    let limits: ConnectionLimits
    let logger: Logger
    /// Upstream sessions parked for the next client (`session_reuse`; empty and unused when off).
    let sessionPool: SessionPool
    private let nextConnectionID = Atomic<Int>(1)
    private let openSessions = Atomic<Int>(0)

    /// `clientALPN`: what client TLS offers (the engine's choice); `credentials` and
    /// `resolver` default to an IAM token from `tokens` and the configured upstream.
    init(configuration: ListenerConfiguration, defaultRegion: String?, aws: (environment: AWSEnvironment, profile: String?) = (.process, nil),
         tokens: TokenCache, clientALPN: [String],
         limits: ConnectionLimits, metrics: ProxyMetrics, logger: Logger,
         credentials: (any LoginCredentialSource)? = nil, resolver: (any UpstreamResolver)? = nil, hostOverrides: HostOverrides = HostOverrides()) throws {
        self.configuration = configuration
        self.limits = limits
        let region = try RegionResolution.region(explicit: configuration.iamRegion, host: configuration.signingHost, fallback: defaultRegion)
        self.region = region
        upstreamTLS = try UpstreamTLSContext(
            configuration.tls, upstreamHost: configuration.upstream.host, isIPAddress: configuration.upstream.isIPAddress)
        clientTLS = try configuration.clientTLS.map { try ClientTLSContext($0, alpn: clientALPN) }
        switch configuration.auth {
        case .iam:
            self.credentials = credentials ?? IAMTokenSource(
                tokens: tokens, signingHost: configuration.signingHost, signingPort: configuration.signingPort, region: region,
                lifetime: TimeInterval(configuration.iamExpirationSeconds))
        case .secret(let settings):
            let client = SecretsManagerClient(
                environment: aws.environment, profile: ProfileSelection(explicit: aws.profile, environment: aws.environment).name,
                region: settings.region ?? settings.arnRegion ?? region, endpoint: settings.endpoint)
            self.credentials = credentials ?? SecretPasswordSource(settings: settings, client: client, credentials: tokens.credentials)
        }
        let resolver = resolver ?? StaticUpstreamResolver(endpoint: configuration.upstream)
        self.resolver = resolver
        self.metrics = metrics
        let listenerName = configuration.name
        upstreamDial = UpstreamDial(
            resolver: resolver, connectTimeout: .milliseconds(Int64(configuration.connectTimeoutSeconds * 1000)), tls: upstreamTLS,
            tlsSettings: configuration.tls, writeBufferWaterMark: GlueHandler.writeBufferWaterMark,
            reportFailure: { reason in metrics.increment(ProxyMetrics.upstreamFailures, [("listener", listenerName), ("reason", reason)]) },
            hostOverrides: hostOverrides)
        var logger = logger
        logger[metadataKey: "listener"] = "\(configuration.name)"
        self.logger = logger
        sessionPool = SessionPool(settings: configuration.sessionReuse, listener: listenerName, metrics: metrics, logger: logger)
    }

    /// With `session_reuse`: parked sessions are checked against the upstream's DNS answer.
    func watchUpstreamForParkedSessions(on eventLoop: any EventLoop) {
        guard sessionPool.isOn else { return }
        let upstream = configuration.upstream
        let overrides = upstreamDial.hostOverrides
        sessionPool.watchUpstream(host: upstream.host, port: upstream.port, on: eventLoop, lookup: { overrides.lookup(host: $0, port: $1) })
    }

    func makeConnectionID() -> Int { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var connectTimeout: TimeAmount { upstreamDial.connectTimeout }
    var handshakeTimeout: TimeAmount { .milliseconds(Int64(configuration.handshakeTimeoutSeconds * 1000)) }


    /// Gets a password for `user` (cached or new) and delivers it on `eventLoop`.
    func fetchPassword(user: String, on eventLoop: any EventLoop,
                       _ deliver: @escaping @Sendable (Result<LoginPassword, any Error>) -> Void) {
        Task { [credentials] in
            let result: Result<LoginPassword, any Error>
            do { result = .success(try await credentials.password(for: user)) } catch { result = .failure(error) }
            eventLoop.execute { deliver(result) }
        }
    }

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
    func upstreamFailed(reason: String) { upstreamDial.reportFailure(reason) }

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

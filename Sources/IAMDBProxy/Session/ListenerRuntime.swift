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
    /// With an Aurora topology: where sessions go (also `resolver`), and what keeps it current.
    let router: AuroraRouter?
    private let topologyMonitor = Mutex<TopologyMonitor?>(nil)
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
        upstreamTLS = try UpstreamTLSContext(configuration.tls)
        clientTLS = try configuration.clientTLS.map { try ClientTLSContext($0, alpn: clientALPN) }
        switch configuration.auth {
        case .iam:
            self.credentials = credentials ?? IAMTokenSource(
                tokens: tokens, signingHost: configuration.iamHost, signingPort: configuration.iamDefaultPort, region: region,
                lifetime: TimeInterval(configuration.iamExpirationSeconds))
        case .secret(let settings):
            let client = SecretsManagerClient(
                environment: aws.environment, profile: ProfileSelection(explicit: aws.profile, environment: aws.environment).name,
                region: settings.region ?? settings.arnRegion ?? region, endpoint: settings.endpoint)
            self.credentials = credentials ?? SecretPasswordSource(settings: settings, client: client, credentials: tokens.credentials)
        }
        let connectTimeout = TimeAmount.milliseconds(Int64(configuration.connectTimeoutSeconds * 1000))
        if resolver == nil, let pattern = configuration.instanceHostPattern {
            let role: AuroraRouter.Role = configuration.effectiveRole == .writer
                ? .writer : .reader(fallbackToWriter: configuration.topology.readerFallback == .writer)
            router = AuroraRouter(endpoint: configuration.upstream, pattern: pattern, role: role, waitLimit: connectTimeout)
        } else {
            router = nil
        }
        let resolver = resolver ?? router ?? StaticUpstreamResolver(endpoint: configuration.upstream)
        self.resolver = resolver
        self.metrics = metrics
        let listenerName = configuration.name
        upstreamDial = UpstreamDial(
            resolver: resolver, connectTimeout: connectTimeout, tls: upstreamTLS,
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
        // With a topology the monitor drops parked sessions when the writer changes.
        guard sessionPool.isOn, router == nil else { return }
        let upstream = configuration.upstream
        let overrides = upstreamDial.hostOverrides
        sessionPool.watchUpstream(host: upstream.host, port: upstream.port, on: eventLoop, lookup: { overrides.lookup(host: $0, port: $1) })
    }

    /// With a topology: makes the monitor (the engine's `probe` logs it in) on `eventLoop`; it
    /// starts now as `monitor_user` if one is set, else with the first login.
    func startTopologyMonitor(probe: any TopologyProbe, on eventLoop: any EventLoop) {
        guard let router else { return }
        let monitor = TopologyMonitor(router: router, probe: probe, runtime: self, on: eventLoop)
        topologyMonitor.withLock { $0 = monitor }
        if let user = configuration.topology.monitorUser { monitor.start(user: user, database: TopologySettings.monitorDatabase) }
    }

    /// A client logged in as `user` to `database`: the monitor's login, if it has none yet.
    func noteLogin(user: String, database: String) {
        guard router != nil else { return }
        topologyMonitor.withLock { $0 }?.start(user: user, database: database)
    }

    /// Ends monitoring once this runtime's sessions are gone (a reload replaced or removed the
    /// listener, or the proxy stops listening): until then a failover still ends them.
    func retireTopologyMonitor() {
        topologyMonitor.withLock { monitor in
            monitor?.retire()
            monitor = nil
        }
    }

    func makeConnectionID() -> Int { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var connectTimeout: TimeAmount { upstreamDial.connectTimeout }
    var handshakeTimeout: TimeAmount { .milliseconds(Int64(configuration.handshakeTimeoutSeconds * 1000)) }


    /// Gets a password for `user` logging in to `server` (the host dialed), cached or new, and
    /// delivers it on `eventLoop`.
    func fetchPassword(user: String, at server: HostAndPort, on eventLoop: any EventLoop,
                       _ deliver: @escaping @Sendable (Result<LoginPassword, any Error>) -> Void) {
        Task { [credentials] in
            let result: Result<LoginPassword, any Error>
            do { result = .success(try await credentials.password(for: user, at: server)) } catch { result = .failure(error) }
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

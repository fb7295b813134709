import AWSAuth
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
    let logger: Logger
    private let nextConnectionID = Atomic<Int>(1)
    private let openSessions = Atomic<Int>(0)

    init(configuration: ListenerConfiguration, defaultRegion: String?, tokens: TokenCache, cancelRegistry: CancelRegistry,
         limits: ConnectionLimits, logger: Logger) throws {
        self.configuration = configuration
        self.limits = limits
        region = try RegionResolution.region(explicit: configuration.iamRegion, host: configuration.signingHost, fallback: defaultRegion)
        upstreamTLS = try UpstreamTLSContext(
            configuration.tls, upstreamHost: configuration.upstream.host, isIPAddress: configuration.upstream.isIPAddress)
        clientTLS = try configuration.clientTLS.map { try ClientTLSContext($0, alpn: configuration.engine == .postgres ? ["postgresql"] : []) }
        self.tokens = tokens
        self.cancelRegistry = cancelRegistry
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

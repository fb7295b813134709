import AWSAuth
import Foundation
import Logging
import MySQLWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The running proxy: one bound listener per configured listener, sharing one credentials
/// chain and one token cache. `run()` serves until a graceful shutdown is signalled.
public final class ProxyServer: Service, Sendable {
    public let configuration: ProxyConfiguration
    let logger: Logger
    let group: any EventLoopGroup
    public let tokens: TokenCache
    /// The variables the credentials chain and Secrets Manager read (tests describe any machine).
    let awsEnvironment: AWSEnvironment
    let engines = EngineState()
    let limits: ConnectionLimits
    let metrics = ProxyMetrics()
    /// `resolve:`, shared by every listener's dials and replaced by a reload.
    let hostOverrides: HostOverrides
    /// The listeners accepting now (changed by a reload).
    let bound = Mutex<[BoundListener]>([])
    /// Configured listeners that are not listening (a reload could not bind them): not ready.
    let unbound = Mutex<[String]>([])
    let started = Atomic(false)
    let shuttingDown = Atomic(false)
    /// `POST /quitquitquit` asks for the same graceful shutdown as SIGTERM.
    let quitRequests = AsyncStream<Void>.makeStream()

    public init(configuration: ProxyConfiguration, environment: AWSEnvironment = .process, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        awsEnvironment = environment
        limits = ConnectionLimits(maxOverall: configuration.maxConnections)
        hostOverrides = HostOverrides(configuration.resolve)
        let chain = DefaultCredentialChain.make(profile: configuration.aws.profile, environment: environment)
        tokens = TokenCache(credentials: CredentialCache(provider: chain, logger: logger))
    }

    /// Checks what `start()` would check before binding: engines, regions, TLS files.
    /// Returns one problem per listener that could not start.
    public func validate() -> [ProxyStartError] {
        configuration.listeners.compactMap { listener -> ProxyStartError? in
            do throws(ProxyStartError) {
                _ = try makeRuntime(for: listener)
                return nil
            } catch {
                return error
            }
        }
    }

    func makeRuntime(for listener: ListenerConfiguration, clientALPN: [String]? = nil) throws(ProxyStartError) -> ListenerRuntime {
        do {
            return try ListenerRuntime(
                configuration: listener, defaultRegion: configuration.aws.region,
                aws: (environment: awsEnvironment, profile: configuration.aws.profile), tokens: tokens,
                clientALPN: clientALPN ?? listener.engine.behaviour(sharing: engines).clientALPN, limits: limits, metrics: metrics,
                logger: logger, hostOverrides: hostOverrides)
        } catch {
            throw ProxyStartError(listener: listener.name, reason: "\(error)")
        }
    }

    /// Binds every listener, then counts as started (`/startup`); returns their addresses
    /// (useful with port 0). The "listening" lines come once all are bound.
    @discardableResult
    public func start() async throws -> [String: SocketAddress] {
        let fileLimit = OpenFileLimit.raiseToHardLimit()
        logger.info("open file limit", metadata: ["open_file_limit": "\(fileLimit)", "sessions_possible": "\(fileLimit / 2)"])
        var listeners: [BoundListener] = []
        for listener in configuration.listeners {
            listeners.append(try await bind(listener))
            bound.withLock { $0 = listeners }
        }
        started.store(true, ordering: .releasing)
        listeners.forEach(announce)
        Task { [tokens, logger] in await Self.announceCredentials(tokens.credentials, logger: logger) }
        return Dictionary(uniqueKeysWithValues: listeners.compactMap { entry in entry.channel.localAddress.map { (entry.runtime.configuration.name, $0) } })
    }

    /// One listener's runtime and accepting channel.
    func bind(_ listener: ListenerConfiguration) async throws(ProxyStartError) -> BoundListener {
        try await bind(listener, slot: ListenerSlot(try await prepare(listener)))
    }

    /// What a listener's sessions will use, made and prepared (the MySQL greeting learned).
    func prepare(_ listener: ListenerConfiguration) async throws(ProxyStartError) -> ListenerSlot.Contents {
        let behaviour = listener.engine.behaviour(sharing: engines)
        let runtime = try makeRuntime(for: listener, clientALPN: behaviour.clientALPN)
        await behaviour.prepare(runtime, group, logger)
        return ListenerSlot.Contents(runtime: runtime, behaviour: behaviour)
    }

    /// A listening socket for `listener` whose connections are served by what `slot` holds.
    func bind(_ listener: ListenerConfiguration, slot: ListenerSlot) async throws(ProxyStartError) -> BoundListener {
        let name = ("listener", listener.name)
        metrics.increment(ProxyMetrics.connectionsOpened, [name], by: 0)
        metrics.increment(ProxyMetrics.tokenRetries, [name], by: 0)
        for failureClass in ProxyMetrics.loginFailureClasses { metrics.increment(ProxyMetrics.loginFailures, [name, ("class", failureClass)], by: 0) }
        for reason in ProxyMetrics.upstreamFailureReasons { metrics.increment(ProxyMetrics.upstreamFailures, [name, ("reason", reason)], by: 0) }
        do {
            var bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { [logger] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(AcceptBackoffHandler(), AcceptFailureLogger(logger: logger))
                    }
                }
                .childChannelOption(.writeBufferWaterMark, value: GlueHandler.writeBufferWaterMark)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(slot.makeSessionHandler())
                    }
                }
            switch listener.listen {
            case .tcp(let address):
                bootstrap = bootstrap.childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                return BoundListener(slot: slot, channel: try await bootstrap.bind(host: address.host, port: address.port).get())
            case .unix(let path):
                try UnixSocketFile.prepare(path)
                let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
                try UnixSocketFile.setMode(path, listener.unixSocketMode)
                return BoundListener(slot: slot, channel: channel)
            }
        } catch {
            throw ProxyStartError(listener: listener.name, reason: "cannot listen on \(listener.listen): \(SystemErrorWords.describe(error))")
        }
    }

    /// Which AWS identity will sign, once at start: the first thing to compare with an IAM
    /// policy when logins are refused. A missing identity is a warning, not fatal (it may appear).
    static func announceCredentials(_ credentials: CredentialCache, logger: Logger) async {
        do {
            let identity = try await credentials.credentials()
            var metadata: Logger.Metadata = ["provider": "\(identity.source)", "access_key_id": "\(identity.accessKeyID)"]
            metadata["expires"] = identity.expiration.map { "\($0.formatted(.iso8601))" } ?? "never (long-term keys)"
            logger.info("AWS credentials for signing", metadata: metadata)
        } catch {
            logger.warning("no AWS credentials yet; logins will fail until there are", metadata: ["error": "\(error)"])
        }
    }

    func announce(_ entry: BoundListener) {
        let listener = entry.runtime.configuration
        logger.info("listening", metadata: [
            "listener": "\(listener.name)", "address": "\(entry.channel.localAddress?.logDescription ?? "?")",
            "upstream": "\(listener.upstream)", "region": "\(entry.runtime.region)", "tls": "\(listener.tls.mode.rawValue)",
        ])
        for exposure in listener.exposures {
            logger.warning("exposure", metadata: ["listener": "\(listener.name)", "exposure": "\(exposure)"])
        }
    }

    /// A second SIGTERM/SIGINT: sessions still open are ended now (with their engine's
    /// shutdown error) instead of after `max_sigterm_delay`. Ignored before the first.
    public func endOpenSessionsNow() {
        guard isShuttingDown else { return }
        logger.info("asked again to stop; ending open sessions now")
        limits.sessions.stopWaiting()
    }

    /// Stops accepting new connections.
    public func stopListening() async {
        for entry in bound.withLock({ listeners in defer { listeners = [] }; return listeners }) {
            await entry.close()
        }
    }

    /// Serves until SIGTERM/SIGINT (or POST /quitquitquit), then shuts down gracefully: keeps accepting for
    /// `min_sigterm_delay`, stops listening, lets open sessions finish for up to
    /// `max_sigterm_delay`, and closes the rest. Throws `SessionsCut` when it had to close some
    /// (unless `exit_zero_on_sigterm`), so the exit code tells a clean drain from a cut one.
    public func run() async throws {
        let admin = try await startAdmin()
        defer { admin?.close(promise: nil) }
        try await start()
        let notifier = ServiceManagerNotifier()
        notifier.ready(status: "listening on \(configuration.listeners.count) listener\(configuration.listeners.count == 1 ? "" : "s")")
        await waitForShutdownRequest()
        shuttingDown.store(true, ordering: .releasing)
        notifier.stopping()
        logger.info("shutting down", metadata: ["open_sessions": "\(limits.sessions.count)"])
        if configuration.minSigtermDelay > 0 {
            try? await Task.sleep(for: .milliseconds(Int(configuration.minSigtermDelay * 1000)))
        }
        await stopListening()
        let sessions = limits.sessions
        if sessions.count > 0 {
            logger.info("waiting for open sessions to finish", metadata: [
                "open_sessions": "\(sessions.count)", "max_sigterm_delay": "\(configuration.maxSigtermDelay)",
                "hint": "send SIGTERM or SIGINT again to end them now",
            ])
        }
        let drained = await sessions.waitUntilIdle(timeout: configuration.maxSigtermDelay)
        let cut = drained ? 0 : sessions.endAll()
        if cut > 0 {
            // Their shutdown errors are on the way; exiting now could lose them.
            _ = await sessions.waitUntilIdle(timeout: Double((SessionEndRequest.boundaryWait * 3).nanoseconds) / 1e9, outlastingStop: true)
            logger.warning("ended sessions still open after max_sigterm_delay (each was sent its engine's shutdown error)", metadata: ["sessions_cut": "\(cut)"])
            if !configuration.exitZeroOnSigterm { throw SessionsCut(count: cut) }
        } else {
            logger.info("all sessions finished; exiting")
        }
    }
}

/// A listener that accepts connections: its listening channel, and the slot holding what new
/// sessions use (sessions keep theirs after a reload).
struct BoundListener: Sendable {
    let slot: ListenerSlot
    let channel: any Channel

    var runtime: ListenerRuntime { slot.contents.runtime }

    /// Stops accepting and closes the parked upstream sessions; sessions already open go on.
    func close() async {
        try? await channel.close()
        runtime.sessionPool.closeAll()
        runtime.retireTopologyMonitor()
        if case .unix(let path) = runtime.configuration.listen { UnixSocketFile.remove(path) }
    }
}

public struct SessionsCut: Error, CustomStringConvertible {
    public let count: Int
    public var description: String { "\(count) session\(count == 1 ? " was" : "s were") still open after max_sigterm_delay and were closed" }
}

public struct ProxyStartError: Error, CustomStringConvertible, Sendable {
    public let listener: String
    public let reason: String
    public var description: String { "listener \(listener): \(reason)" }
}

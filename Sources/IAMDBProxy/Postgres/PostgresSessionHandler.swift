import Logging
import NIOCore
import NIOTLS
import PostgresWire

/// Runs one PostgreSQL client session through its startup phase: it feeds client, upstream
/// and token events to `PostgresProxyHandshake` and performs the actions it returns. Once the
/// upstream sends ReadyForQuery it hands both channels to a `GlueHandler` pair and leaves.
final class PostgresSessionHandler: LoginSessionHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A client must not send queries before it is logged in; more than this is hostile.
    static let maximumPendingClientBytes = 64 * 1024
    static let tlsRecordType: UInt8 = 0x16

    let runtime: ListenerRuntime
    var machine: PostgresProxyHandshake
    var record: SessionRecord
    var context: ChannelHandlerContext?
    var clientBuffer = ByteBuffer()
    var upstreamBuffer = ByteBuffer()
    var upstream: UpstreamLink?
    var password: LoginPassword?
    var retryBackoff = LoginBackoff()
    private let cancels: CancelRegistry
    private var registeredKey: BackendKey?
    typealias Reset = PostgresSessionReset
    var reuse: ReuseTurn?
    var handedOut: PostgresLoggedInSession?
    private var follower: PostgresReuseFollower?

    init(runtime: ListenerRuntime, cancels: CancelRegistry) {
        self.runtime = runtime
        self.cancels = cancels
        machine = PostgresProxyHandshake(configuration: .init(
            clientTLSAvailable: runtime.clientTLS != nil, allowedUsers: runtime.configuration.users.map(Set.init),
            allowReplication: runtime.configuration.allowReplication, checksWritable: runtime.configuration.effectiveRole == .writer))
        record = SessionRecord(runtime: runtime)
    }

    // MARK: Client channel

    func handlerAdded(context: ChannelHandlerContext) {
        attach(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        detach()
    }

    func channelActive(context: ChannelHandlerContext) {
        if !begin(context) { machine.configuration.tooManyConnections = true }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isFinishing else { return }
        var bytes = unwrapInboundIn(data)
        if !machine.hasReadStartup, !machine.clientUsesTLS, clientBuffer.readableBytes == 0,
            bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == Self.tlsRecordType
        {
            startDirectTLS(context: context, firstBytes: bytes)
            return
        }
        clientBuffer.writeBuffer(&bytes)
        if machine.hasReadStartup {
            if clientBuffer.readableBytes > Self.maximumPendingClientBytes {
                perform(machine.clientViolatedProtocol("the client sent \(clientBuffer.readableBytes) bytes before login finished"))
            }
            return
        }
        perform(machine.clientBytes(&clientBuffer))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if endIfRequested(event, context: context) { return }
        if case .handshakeCompleted(let negotiatedProtocol) = event as? TLSUserEvent {
            perform(machine.clientTLSEstablished(negotiatedProtocol: negotiatedProtocol))
            if clientBuffer.readableBytes > 0 { perform(machine.clientBytes(&clientBuffer)) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        record.failure = record.failure ?? "client connection error: \(error)"
        context.close(promise: nil)
    }

    private func startDirectTLS(context: ChannelHandlerContext, firstBytes: ByteBuffer) {
        let actions = machine.clientStartsDirectTLS()
        guard actions.isEmpty, runtime.clientTLS != nil else {
            perform(actions)
            return
        }
        guard startClientTLS(context) else { return }
        // Let the TLS handler see the ClientHello we already read.
        context.pipeline.syncOperations.fireChannelRead(NIOAny(firstBytes))
    }

    // MARK: Actions

    func perform(_ actions: [PostgresProxyHandshake.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .sendToClient(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            case .acceptClientTLS(let answer):
                context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
                _ = startClientTLS(context)
            case .connectUpstream(let user):
                if !handOutParkedSession(on: context.eventLoop) { connectUpstream(user: user) }
            case .sendToUpstream(let bytes):
                upstream?.send(bytes)
            case .startUpstreamTLS:
                upstream?.startTLS()
            case .forwardCancel(let key):
                forwardCancel(key)
            case .retryWithFreshToken(let user):
                retryWithFreshToken(user: user)
            case .retryThrottled(let user, let failure):
                if !retryLater(user: user, because: .throttled) { finish(error: failure.error, sqlState: failure.sqlState, reason: failure.reason) }
            case .retryReadOnly(let user, let failure):
                if !retryLater(user: user, because: .readOnly) { finish(error: failure.error, sqlState: failure.sqlState, reason: failure.reason) }
            case .registerBackendKey(let server, let client):
                if let address = upstream?.address, let host = upstream?.target {
                    registeredKey = client
                    cancels.register(client, .init(address: address, tls: runtime.upstreamTLS, host: host, listener: runtime.configuration.name, serverKey: server))
                }
            case .startRelaying:
                startRelayingFollowed(context: context)
            case .fail(let failure):
                finish(error: failure.error, sqlState: failure.sqlState, reason: failure.reason)
            }
        }
    }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() {
        record.upstreamChosen(upstream?.address)
        perform(machine.upstreamConnected())
    }

    // MARK: Endings

    func handshakeTimedOut() {
        guard !machine.isRelaying else { return }
        if machine.hasReadStartup {
            loginTimedOut()
        } else {
            finish(error: nil, reason: "client sent no startup message within \(runtime.configuration.handshakeTimeoutSeconds) s")
        }
    }

    private func forwardCancel(_ key: BackendKey) {
        guard let context else { return }
        if let target = cancels.target(for: key) {
            CancelForwarder.forward(target.serverKey, to: target, on: context.eventLoop, timeout: runtime.connectTimeout, logger: logger)
        } else {
            logger.info("cancel request for an unknown session ignored")
        }
        record.kind = "cancel"
        context.close(promise: nil)
    }

    // MARK: Session reuse

    /// Relays; with `session_reuse: mode: reuse`, followed so that a clean end can park the session.
    private func startRelayingFollowed(context: ChannelHandlerContext) {
        guard let reuse else {
            startRelaying(context: context)
            return
        }
        guard reuse.pool.parksAfterUse, let session = handedOut ?? machine.loggedInSession else {
            return reuse.relaying(startRelaying(context: context), client: context.channel, runtime: runtime)
        }
        let follower = PostgresReuseFollower(session: session, turn: reuse) { [unowned self] follower in self.park(follower) }
        let handlers = follower.makeHandlers()
        self.follower = follower
        reuse.relaying(startRelaying(context: context, observers: ([handlers.client], [handlers.upstream])), client: context.channel, runtime: runtime)
    }

    /// The client sent Terminate at an idle point: the session is reset and parked unless it has
    /// served enough. True when it took the session (the Terminate is then not sent on).
    private func park(_ follower: PostgresReuseFollower) -> Bool {
        reuse?.park(state: follower.session, reset: PostgresSessionReset(session: follower.session), farewell: PostgresSessionReset.terminate,
                    runtime: runtime) {
            upstream?.letGo()
            // The next client gets a key of its own; this one's must reach nothing from now on.
            if let registeredKey { cancels.remove(registeredKey) }
            registeredKey = nil
        } ?? false
    }

    static func likelyCause(of reason: String) -> String? { PostgresLoginDiagnosis.likelyCause(of: reason) }

    func makeWireSummaries() -> WireSummaries { WireSummaries(client: PostgresWireSummary(), server: PostgresWireSummary()) }

    /// As PostgreSQL ends sessions at a fast shutdown: FATAL 57P01, which drivers and pools
    /// know as "the server went away; reconnect", whatever the session was doing.
    func makeServerStream() -> any ServerStreamEnding {
        FramedServerStream<PostgresMessageFraming>(notice: Self.notice(for:))
    }

    static func notice(for reason: SessionEndReason) -> ByteBuffer {
        switch reason {
        case .shutdown:
            return shutdownNotice
        case .failover(let instance, let writer):
            return ErrorResponse(
                fatal: .adminShutdown, "terminating connection because the cluster failed over: \(instance) is no longer the writer",
                detail: "iam-db-proxy ends sessions on the old writer so they reconnect to the new one (\(writer)) instead of meeting read-only errors.",
                hint: "Reconnect: new sessions go to the new writer.").encoded()
        }
    }

    static let shutdownNotice = ErrorResponse(
        fatal: .adminShutdown, "terminating connection due to administrator command",
        detail: "iam-db-proxy is shutting down and the session was still open after max_sigterm_delay.").encoded()

    func forgetSession() {
        if let registeredKey { cancels.remove(registeredKey) }
        follower?.clientLeft()
        follower = nil
        if machine.declinedTLSAwaitingStartup {
            logger.warning("the client asked for TLS and left when told this listener has none", metadata: [
                "fix": "on loopback connect with sslmode=disable (or prefer); across hosts give this listener client_tls",
            ])
        }
    }
}

import Logging
import MySQLWire
import NIOCore
import NIOTLS

/// Runs one MySQL client session through its connection phase: it greets the client, feeds
/// client, upstream and token events to `MySQLProxyHandshake` and performs the actions it
/// returns. Once the server's OK has gone to the client it hands both channels to a glue pair
/// with a `MySQLCommandInspector` in front, and leaves.
final class MySQLSessionHandler: LoginSessionHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A client waits for the OK after its handshake response; more than this is hostile.
    static let maximumPendingClientBytes = 64 * 1024

    let runtime: ListenerRuntime
    var machine: MySQLProxyHandshake
    var record: SessionRecord
    var context: ChannelHandlerContext?
    var clientBuffer = ByteBuffer()
    var upstreamBuffer = ByteBuffer()
    var upstream: UpstreamLink?
    var password: LoginPassword?
    var retryBackoff = LoginBackoff()
    private let state: MySQLListenerState
    /// The id in the proxy's greeting (random, reserved until the connection closes).
    private var connectionID: UInt32 = 0
    typealias Reset = MySQLSessionReset
    var reuse: ReuseTurn?
    var handedOut: MySQLLoggedInSession?
    private var follower: MySQLReuseFollower?

    init(runtime: ListenerRuntime, state: MySQLListenerState) {
        self.runtime = runtime
        self.state = state
        machine = MySQLProxyHandshake(configuration: .init(
            greeting: state.greeting.current, clientTLSAvailable: runtime.clientTLS != nil,
            allowedUsers: runtime.configuration.users.map(Set.init), listenerName: runtime.configuration.name,
            credential: runtime.configuration.auth.mysqlCredential))
        machine.configuration.reusesSessions = runtime.sessionPool.parksAfterUse
        machine.configuration.checksWritable = runtime.configuration.effectiveRole == .writer
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
        connectionID = state.sessions.makeConnectionID()
        record.logger[metadataKey: "mysql_conn_id"] = "\(connectionID)"
        if !begin(context) { machine.configuration.tooManyConnections = true }
        context.fireChannelActive()
        perform(machine.start(connectionID: connectionID, scramble: Self.makeScramble()))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isFinishing else { return }
        var bytes = unwrapInboundIn(data)
        clientBuffer.writeBuffer(&bytes)
        if !machine.hasReadResponse { perform(machine.clientBytes(&clientBuffer)) }
        // From the first byte: the handshake packet itself is limited by the machine, and
        // whatever is pipelined behind it waits here until the login ends.
        if clientBuffer.readableBytes > Self.maximumPendingClientBytes, !machine.isRelaying, context.channel.isActive {
            fail(LoginFailure(.badHandshake("Bad handshake: \(clientBuffer.readableBytes) bytes sent before login finished"),
                              sequenceID: 0, reason: "the client sent too much before login finished"))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if endIfRequested(event, context: context) { return }
        if case .handshakeCompleted = event as? TLSUserEvent {
            perform(machine.clientTLSEstablished())
            if clientBuffer.readableBytes > 0 { perform(machine.clientBytes(&clientBuffer)) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        record.failure = record.failure ?? "client connection error: \(error)"
        context.close(promise: nil)
    }

    /// A scramble the client hashes its (unused) password with; it must look like a server's.
    private static func makeScramble() -> [UInt8] {
        (0..<20).map { _ in UInt8.random(in: 0x21...0x7E) }
    }

    // MARK: Actions

    func perform(_ actions: [MySQLProxyHandshake.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .sendToClient(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            case .acceptClientTLS:
                acceptClientTLS(context: context)
            case .connectUpstream(let user):
                if !handOutParkedSession(on: context.eventLoop) { connectUpstream(user: user) }
            case .sendToUpstream(let bytes):
                upstream?.send(bytes)
            case .startUpstreamTLS:
                upstream?.startTLS()
            case .learnedGreeting(let greeting):
                state.greeting.learn(greeting)
            case .retryWithFreshToken(let user):
                retryWithFreshToken(user: user)
            case .retryThrottled(let user, let failure):
                if !retryLater(user: user, because: .throttled) { fail(failure) }
            case .retryReadOnly(let user, let failure):
                if !retryLater(user: user, because: .readOnly) { fail(failure) }
            case .loggedIn(let upstreamConnectionID):
                if let address = upstream?.address, let host = upstream?.target {
                    state.sessions.register(connectionID, .init(
                        runtime: runtime, address: address, host: host, upstreamConnectionID: upstreamConnectionID))
                }
            case .startRelaying:
                startRelayingFollowed(context: context)
            case .fail(let failure):
                fail(failure)
            }
        }
    }

    // MARK: Session reuse

    /// Relays with the command inspector in front; with `session_reuse`, followed so that a
    /// clean COM_QUIT can park the session.
    private func startRelayingFollowed(context: ChannelHandlerContext) {
        var follower: MySQLReuseFollower?
        if let reuse, reuse.pool.parksAfterUse, let session = handedOut ?? machine.loggedInSession {
            follower = MySQLReuseFollower(session: session, turn: reuse) { [unowned self] follower in self.park(follower) }
        }
        self.follower = follower
        let inspector = MySQLCommandInspector(runtime: runtime, sessions: state.sessions, user: machine.user, logger: logger, follower: follower)
        let relayed = startRelaying(context: context, clientHandlers: [inspector], observers: ([], [follower?.makeServerHandler()].compactMap { $0 }))
        reuse?.relaying(relayed, client: context.channel, runtime: runtime)
    }

    /// The client sent COM_QUIT after every answer ended, outside a transaction: the session is
    /// reset and parked unless it has served enough.
    private func park(_ follower: MySQLReuseFollower) -> Bool {
        guard let reuse, let key = machine.sessionKey else { return false }
        return reuse.park(state: follower.session, reset: MySQLSessionReset(database: key.database, session: follower.session),
                          farewell: MySQLSessionResetExchange.quit, runtime: runtime) { upstream?.letGo() }
    }

    private func fail(_ failure: LoginFailure) {
        finish(error: failure.error, sqlState: failure.sqlState, reason: failure.reason)
    }

    private func acceptClientTLS(context: ChannelHandlerContext) {
        guard startClientTLS(context) else { return }
        // The ClientHello may have come in the same read as the SSLRequest.
        if clientBuffer.readableBytes > 0 {
            let hello = clientBuffer
            clientBuffer = ByteBuffer()
            context.pipeline.syncOperations.fireChannelRead(NIOAny(hello))
        }
    }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() {
        record.upstreamChosen(upstream?.address)
    }

    // MARK: Endings

    func handshakeTimedOut() {
        guard !machine.isRelaying else { return }
        let limit = runtime.configuration.handshakeTimeoutSeconds
        if machine.hasReadResponse {
            loginTimedOut()
        } else {
            fail(LoginFailure(.badHandshake("Bad handshake: no handshake response within \(limit) s"), sequenceID: 1,
                              reason: "client sent no handshake response within \(limit) s"))
        }
    }

    static func likelyCause(of reason: String) -> String? { MySQLLoginDiagnosis.likelyCause(of: reason) }

    func makeWireSummaries() -> WireSummaries {
        WireSummaries(client: MySQLWireSummary(fromClient: true), server: MySQLWireSummary(fromClient: false))
    }

    /// ERR 1053 (ER_SERVER_SHUTDOWN) with sequence id 1: the reply to the command in flight, or
    /// to an idle client's next command (which starts at 0), so the driver reports the error
    /// as the server's. (Cut in the middle of a reply, a client sees a sequence error instead;
    /// telling the two apart would mean parsing every reply.)
    func makeServerStream() -> any ServerStreamEnding {
        FramedServerStream<MySQLPacketFraming>(notice: Self.notice(for:))
    }

    static func notice(for reason: SessionEndReason) -> ByteBuffer {
        switch reason {
        case .shutdown:
            return shutdownNotice
        case .failover(let instance, let writer):
            return ErrorPacket(
                code: 1053, sqlState: "08S01",
                message: "Server shutdown in progress (iam-db-proxy: the cluster failed over; \(instance) is no longer the writer, reconnect to reach \(writer))"
            ).frame(sequenceID: 1)
        }
    }

    static let shutdownNotice = ErrorPacket(
        code: 1053, sqlState: "08S01", message: "Server shutdown in progress (iam-db-proxy: the session was still open after max_sigterm_delay)"
    ).frame(sequenceID: 1)

    func forgetSession() {
        state.sessions.remove(connectionID)
        follower?.clientLeft()
        follower = nil
        if machine.greetedWithoutTLSAndUnanswered, clientBuffer.readableBytes == 0 {
            // A hint on the close line, not a warning of its own: a TCP health check leaves the same way.
            record.hint = "the client left after the greeting without answering; a client that requires TLS (mysql --ssl, ssl-mode=REQUIRED, "
                + "MariaDB 11.4+ clients by default) does that: on loopback connect with --skip-ssl (ssl-mode=DISABLED), or give this listener client_tls"
        }
    }
}

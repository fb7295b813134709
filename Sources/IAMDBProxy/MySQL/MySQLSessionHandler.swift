import AWSAuth
import Logging
import MySQLWire
import NIOCore
import NIOTLS

/// Runs one MySQL client session through its connection phase: it greets the client, feeds
/// client, upstream and token events to `MySQLProxyHandshake` and performs the actions it
/// returns. Once the server's OK has gone to the client it hands both channels to a glue pair
/// with a `MySQLCommandInspector` in front, and leaves.
final class MySQLSessionHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamLinkDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A client waits for the OK after its handshake response; more than this is hostile.
    static let maximumPendingClientBytes = 64 * 1024

    private let runtime: ListenerRuntime
    private var machine: MySQLProxyHandshake
    private var record: SessionRecord
    private var context: ChannelHandlerContext?
    private var clientBuffer = ByteBuffer()
    private var upstreamBuffer = ByteBuffer()
    private var upstream: UpstreamLink?
    private var tokenKey: TokenCache.Key?
    private let connectionID: UInt32

    init(runtime: ListenerRuntime) {
        self.runtime = runtime
        machine = MySQLProxyHandshake(configuration: .init(
            greeting: runtime.mysqlGreeting.current, clientTLSAvailable: runtime.clientTLS != nil,
            allowedUsers: runtime.configuration.users.map(Set.init), listenerName: runtime.configuration.name))
        record = SessionRecord(runtime: runtime)
        connectionID = runtime.mysqlSessions.makeConnectionID()
    }

    private var loopBound: NIOLoopBound<MySQLSessionHandler> { NIOLoopBound(self, eventLoop: context!.eventLoop) }
    private var logger: Logger { record.logger }

    // MARK: Client channel

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let link = UpstreamLink(runtime: runtime, eventLoop: context.eventLoop)
        link.delegate = self
        upstream = link
    }

    func channelActive(context: ChannelHandlerContext) {
        record.logger[metadataKey: "mysql_conn_id"] = "\(connectionID)"
        let session = loopBound
        if !record.opened(context, onTimeout: { session.value.handshakeTimedOut() }) {
            machine.configuration.tooManyConnections = true
        }
        let channel = context.channel
        channel.closeFuture.whenComplete { _ in session.value.sessionEnded(channel) }
        context.fireChannelActive()
        perform(machine.start(connectionID: connectionID, scramble: Self.makeScramble()))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        clientBuffer.writeBuffer(&bytes)
        if machine.hasReadResponse {
            if clientBuffer.readableBytes > Self.maximumPendingClientBytes {
                finish(error: ErrorPacket.badHandshake("Bad handshake: \(clientBuffer.readableBytes) bytes sent before login finished")
                    .frame(sequenceID: 0), reason: "the client sent too much before login finished")
            }
            return
        }
        perform(machine.clientBytes(&clientBuffer))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
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

    private func perform(_ actions: [MySQLProxyHandshake.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .sendToClient(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            case .acceptClientTLS:
                acceptClientTLS(context: context)
            case .connectUpstream(let user):
                upstream?.connect()
                fetchToken(user: user)
            case .sendToUpstream(let bytes):
                upstream?.send(bytes)
            case .startUpstreamTLS:
                upstream?.startTLS()
            case .learnedGreeting(let greeting):
                runtime.mysqlGreeting.learn(greeting)
            case .retryWithFreshToken(let user):
                logger.info("cached token refused; retrying once with a fresh token")
                runtime.forgetToken(tokenKey)
                upstreamBuffer.clear()
                upstream?.connect()
                fetchToken(user: user)
            case .loggedIn(let upstreamConnectionID):
                if let address = upstream?.address {
                    runtime.mysqlSessions.register(connectionID, .init(
                        runtime: runtime, address: address, upstreamConnectionID: upstreamConnectionID))
                }
            case .startRelaying:
                startRelaying(context: context)
            case .fail(let error, let reason):
                finish(error: error, reason: reason)
            }
        }
    }

    private func acceptClientTLS(context: ChannelHandlerContext) {
        guard let clientTLS = runtime.clientTLS else { return }
        do {
            try clientTLS.install(in: context.pipeline)
        } catch {
            finish(error: nil, reason: "cannot start client TLS: \(error)")
            return
        }
        // The ClientHello may have come in the same read as the SSLRequest.
        if clientBuffer.readableBytes > 0 {
            let hello = clientBuffer
            clientBuffer = ByteBuffer()
            context.pipeline.syncOperations.fireChannelRead(NIOAny(hello))
        }
    }

    private func finish(error: ByteBuffer?, reason: String) {
        guard let context else { return }
        record.failure = reason
        upstream?.close()
        let channel = context.channel
        if let error, let sqlState = Self.sqlState(of: error) { record.loginFailed(sqlState: sqlState) }
        if let error {
            context.writeAndFlush(wrapOutboundOut(error)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    /// The SQLSTATE of an ERR packet about to go to the client.
    static func sqlState(of frame: ByteBuffer) -> String? {
        var frame = frame
        guard let packet = PacketFrame.decode(from: &frame) else { return nil }
        return (try? ErrorPacket(payload: packet.payload))?.sqlState
    }

    private func fetchToken(user: String) {
        guard let context, let upstream else { return }
        let session = loopBound
        let attempt = upstream.attempt
        runtime.fetchToken(user: user, on: context.eventLoop) { result in session.value.tokenArrived(result, attempt: attempt) }
    }

    private func tokenArrived(_ result: Result<IssuedToken, any Error>, attempt: Int) {
        guard attempt == upstream?.attempt else { return }
        switch result {
        case .success(let issued):
            tokenKey = issued.key
            perform(machine.tokenReady(issued.token, wasCached: issued.wasCached))
        case .failure(let error):
            perform(machine.tokenFailed("\(error)"))
        }
    }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() {
        record.upstreamChosen(upstream?.address)
    }

    func upstreamRead(_ bytes: ByteBuffer) {
        var bytes = bytes
        upstreamBuffer.writeBuffer(&bytes)
        perform(machine.upstreamBytes(&upstreamBuffer))
    }

    func upstreamTLSEstablished() {
        perform(machine.upstreamTLSEstablished())
    }

    func upstreamFailed(_ message: String, hint: String?) {
        guard !machine.isRelaying else { return }
        perform(machine.upstreamFailed(message, hint: hint))
    }

    // MARK: Relay and endings

    private func startRelaying(context: ChannelHandlerContext) {
        guard let upstream else { return }
        let pending = (client: clientBuffer, upstream: upstreamBuffer)
        clientBuffer = ByteBuffer()
        upstreamBuffer = ByteBuffer()
        let inspector = MySQLCommandInspector(runtime: runtime, user: machine.user, logger: logger)
        do {
            let glue = try SessionRelay.start(client: context, upstream: upstream, pendingClientBytes: pending.client, pendingUpstreamBytes: pending.upstream,
                                              clientHandlers: [inspector], idleTimeoutSeconds: runtime.configuration.idleTimeoutSeconds,
                                              counters: (runtime.bytesUp, runtime.bytesDown))
            record.relaying(glue, user: machine.user, database: machine.database)
        } catch {
            finish(error: nil, reason: "cannot start relaying: \(error)")
        }
    }

    private func handshakeTimedOut() {
        guard !machine.isRelaying else { return }
        let limit = runtime.configuration.handshakeTimeoutSeconds
        if machine.hasReadResponse {
            runtime.upstreamFailed(reason: "timeout")
            perform(machine.upstreamFailed("login to \(runtime.configuration.upstream) did not finish within \(limit) s"))
        } else {
            finish(error: ErrorPacket.badHandshake("Bad handshake: no handshake response within \(limit) s").frame(sequenceID: 1),
                   reason: "client sent no handshake response within \(limit) s")
        }
    }

    private func sessionEnded(_ channel: any Channel) {
        upstream?.close()
        runtime.mysqlSessions.remove(connectionID)
        record.ended(channel)
    }
}

import AWSAuth
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PostgresWire

/// Runs one PostgreSQL client session through its startup phase: it feeds client, upstream
/// and token events to `PostgresProxyHandshake` and performs the actions it returns. Once the
/// upstream sends ReadyForQuery it hands both channels to a `GlueHandler` pair and leaves.
final class PostgresSessionHandler: ChannelInboundHandler, RemovableChannelHandler, UpstreamLinkDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A client must not send queries before it is logged in; more than this is hostile.
    static let maximumPendingClientBytes = 64 * 1024
    static let tlsRecordType: UInt8 = 0x16

    private let runtime: ListenerRuntime
    private var machine: PostgresProxyHandshake
    private var record: SessionRecord
    private var context: ChannelHandlerContext?
    private var clientBuffer = ByteBuffer()
    private var upstreamBuffer = ByteBuffer()
    private var upstream: UpstreamLink?
    private var tokenKey: TokenCache.Key?
    private var registeredKey: BackendKey?

    init(runtime: ListenerRuntime) {
        self.runtime = runtime
        machine = PostgresProxyHandshake(configuration: .init(
            clientTLSAvailable: runtime.clientTLS != nil, allowedUsers: runtime.configuration.users.map(Set.init)))
        record = SessionRecord(runtime: runtime)
    }

    private var loopBound: NIOLoopBound<PostgresSessionHandler> { NIOLoopBound(self, eventLoop: context!.eventLoop) }
    private var logger: Logger { record.logger }

    // MARK: Client channel

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let link = UpstreamLink(runtime: runtime, eventLoop: context.eventLoop)
        link.delegate = self
        upstream = link
    }

    func channelActive(context: ChannelHandlerContext) {
        let session = loopBound
        if !record.opened(context, onTimeout: { session.value.handshakeTimedOut() }) {
            machine.configuration.tooManyConnections = true
        }
        let channel = context.channel
        channel.closeFuture.whenComplete { _ in session.value.sessionEnded(channel) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
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
        if case .handshakeCompleted = event as? TLSUserEvent {
            machine.clientTLSEstablished()
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
        guard actions.isEmpty, let clientTLS = runtime.clientTLS else {
            perform(actions)
            return
        }
        guard addClientTLSHandler(context: context, clientTLS) else { return }
        // Let the TLS handler see the ClientHello we already read.
        context.pipeline.syncOperations.fireChannelRead(NIOAny(firstBytes))
    }

    /// Puts TLS in front of the client connection; on failure ends the session and says false.
    private func addClientTLSHandler(context: ChannelHandlerContext, _ clientTLS: ClientTLSContext) -> Bool {
        do {
            try clientTLS.install(in: context.pipeline)
            return true
        } catch {
            finish(error: nil, reason: "cannot start client TLS: \(error)")
            return false
        }
    }

    // MARK: Actions

    private func perform(_ actions: [PostgresProxyHandshake.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .sendToClient(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            case .acceptClientTLS(let answer):
                context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
                if let clientTLS = runtime.clientTLS { _ = addClientTLSHandler(context: context, clientTLS) }
            case .connectUpstream(let user):
                upstream?.connect()
                fetchToken(user: user)
            case .sendToUpstream(let bytes):
                upstream?.send(bytes)
            case .startUpstreamTLS:
                upstream?.startTLS()
            case .forwardCancel(let key):
                forwardCancel(key)
            case .retryWithFreshToken(let user):
                logger.info("cached token refused; retrying once with a fresh token")
                runtime.forgetToken(tokenKey)
                upstreamBuffer.clear()
                upstream?.connect()
                fetchToken(user: user)
            case .registerBackendKey(let key):
                if let address = upstream?.address {
                    registeredKey = key
                    runtime.cancelRegistry.register(key, .init(address: address, tls: runtime.upstreamTLS, listener: runtime.configuration.name))
                }
            case .startRelaying:
                startRelaying(context: context)
            case .fail(let error, let reason):
                finish(error: error, reason: reason)
            }
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

    /// The SQLSTATE of an ErrorResponse message about to go to the client.
    static func sqlState(of message: ByteBuffer) -> String? {
        guard let body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5) else { return nil }
        return (try? ErrorResponse(body: body))?.sqlState
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
        perform(machine.upstreamConnected())
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
        do {
            let glue = try SessionRelay.start(client: context, upstream: upstream, pendingClientBytes: pending.client, pendingUpstreamBytes: pending.upstream,
                                              idleTimeoutSeconds: runtime.configuration.idleTimeoutSeconds,
                                              counters: (runtime.bytesUp, runtime.bytesDown))
            record.relaying(glue, user: machine.user, database: machine.database)
        } catch {
            finish(error: nil, reason: "cannot start relaying: \(error)")
        }
    }

    private func handshakeTimedOut() {
        guard !machine.isRelaying else { return }
        if machine.hasReadStartup {
            runtime.upstreamFailed(reason: "timeout")
            perform(machine.upstreamFailed("login to \(runtime.configuration.upstream) did not finish within \(runtime.configuration.handshakeTimeoutSeconds) s"))
        } else {
            finish(error: nil, reason: "client sent no startup message within \(runtime.configuration.handshakeTimeoutSeconds) s")
        }
    }

    private func forwardCancel(_ key: BackendKey) {
        guard let context else { return }
        if let target = runtime.cancelRegistry.target(for: key) {
            CancelForwarder.forward(key, to: target, on: context.eventLoop, timeout: runtime.connectTimeout, logger: logger)
        } else {
            logger.info("cancel request for an unknown session ignored")
        }
        record.kind = "cancel"
        context.close(promise: nil)
    }

    private func sessionEnded(_ channel: any Channel) {
        upstream?.close()
        if let registeredKey { runtime.cancelRegistry.remove(registeredKey) }
        record.ended(channel)
    }
}

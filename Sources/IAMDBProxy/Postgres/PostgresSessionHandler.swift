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
final class PostgresSessionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A client must not send queries before it is logged in; more than this is hostile.
    static let maximumPendingClientBytes = 64 * 1024
    static let tlsRecordType: UInt8 = 0x16

    private let runtime: ListenerRuntime
    private var machine: PostgresProxyHandshake
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var clientBuffer = ByteBuffer()
    private var upstreamBuffer = ByteBuffer()
    private var upstream: (any Channel)?
    private var upstreamAddress: SocketAddress?
    private var attempt = 0
    private var tokenKey: TokenCache.Key?
    private var registeredKey: BackendKey?
    private var handshakeTimer: Scheduled<Void>?
    private var glue: (client: GlueHandler, upstream: GlueHandler)?
    private var openedAt = NIODeadline.now()
    private var closeReason: String?

    init(runtime: ListenerRuntime) {
        self.runtime = runtime
        machine = PostgresProxyHandshake(configuration: .init(
            clientTLSAvailable: runtime.clientTLS != nil, allowedUsers: runtime.configuration.users.map(Set.init)))
        logger = runtime.logger
    }

    private var loopBound: NIOLoopBound<PostgresSessionHandler> { NIOLoopBound(self, eventLoop: context!.eventLoop) }

    // MARK: Client channel

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        openedAt = .now()
        logger[metadataKey: "conn"] = "\(runtime.makeConnectionID())"
        logger[metadataKey: "client"] = "\(context.remoteAddress?.logDescription ?? "?")"
        if !runtime.sessionOpened(context.channel) {
            machine.configuration.tooManyConnections = true
            logger.warning("max_connections reached; refusing the session after its startup message")
        }
        let session = loopBound
        let channel = context.channel
        channel.closeFuture.whenComplete { _ in session.value.sessionEnded(channel) }
        handshakeTimer = context.eventLoop.scheduleTask(in: runtime.handshakeTimeout) { [session] in
            session.value.handshakeTimedOut()
        }
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
                perform(machine.upstreamFailed("the client sent \(clientBuffer.readableBytes) bytes before login finished"))
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
        closeReason = closeReason ?? "client connection error: \(error)"
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
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: clientTLS.context), position: .first)
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
                connectUpstream()
                fetchToken(user: user)
            case .sendToUpstream(let bytes):
                upstream?.writeAndFlush(bytes, promise: nil)
            case .startUpstreamTLS:
                startUpstreamTLS()
            case .forwardCancel(let key):
                forwardCancel(key)
            case .retryWithFreshToken(let user):
                logger.info("cached token refused; retrying once with a fresh token")
                // The credentials may be what was revoked or rotated: read them again too.
                if let tokenKey { runtime.tokens.invalidate(tokenKey) }
                runtime.tokens.credentials.invalidate()
                upstream?.close(promise: nil)
                upstream = nil
                upstreamBuffer.clear()
                connectUpstream()
                fetchToken(user: user)
            case .registerBackendKey(let key):
                if let upstreamAddress {
                    registeredKey = key
                    runtime.cancelRegistry.register(key, .init(address: upstreamAddress, tls: runtime.upstreamTLS, listener: runtime.configuration.name))
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
        closeReason = reason
        upstream?.close(promise: nil)
        let channel = context.channel
        if let error {
            context.writeAndFlush(wrapOutboundOut(error)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    private func fetchToken(user: String) {
        guard let context else { return }
        let request = runtime.tokenRequest(user: user)
        let lifetime = TimeInterval(runtime.configuration.iamExpiration)
        let tokens = runtime.tokens
        let session = loopBound
        let eventLoop = context.eventLoop
        let attempt = self.attempt
        Task {
            let result: Result<IssuedToken, any Error>
            do { result = .success(try await tokens.token(for: request, lifetime: lifetime)) } catch { result = .failure(error) }
            eventLoop.execute { session.value.tokenArrived(result, attempt: attempt) }
        }
    }

    private func tokenArrived(_ result: Result<IssuedToken, any Error>, attempt: Int) {
        guard attempt == self.attempt else { return }
        switch result {
        case .success(let issued):
            tokenKey = issued.key
            perform(machine.tokenReady(issued.token, wasCached: issued.wasCached))
        case .failure(let error):
            perform(machine.tokenFailed("\(error)"))
        }
    }

    // MARK: Upstream channel

    private func connectUpstream() {
        guard let context else { return }
        attempt += 1
        let attempt = self.attempt
        let session = loopBound
        let target = runtime.configuration.upstream
        ClientBootstrap(group: context.eventLoop)
            .connectTimeout(runtime.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: ProxyServer.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandshakeHandler(session: session, attempt: attempt))
                }
            }
            .connect(host: target.host, port: target.port)
            .whenComplete { result in session.value.upstreamConnectFinished(result, attempt: attempt) }
    }

    private func upstreamConnectFinished(_ result: Result<any Channel, any Error>, attempt: Int) {
        switch result {
        case .success(let channel):
            guard attempt == self.attempt, context != nil else {
                channel.close(promise: nil)
                return
            }
            upstream = channel
            upstreamAddress = channel.remoteAddress
            logger[metadataKey: "upstream"] = "\(channel.remoteAddress?.logDescription ?? runtime.configuration.upstream.description)"
            perform(machine.upstreamConnected())
        case .failure(let error):
            upstreamError(error, attempt: attempt)
        }
    }

    private func startUpstreamTLS() {
        guard let upstream else { return }
        do {
            try upstream.pipeline.syncOperations.addHandler(try runtime.upstreamTLS.makeHandler(), position: .first)
        } catch {
            perform(machine.upstreamFailed("cannot start TLS to \(runtime.configuration.upstream): \(error)"))
        }
    }

    func upstreamRead(_ bytes: ByteBuffer, attempt: Int) {
        guard attempt == self.attempt else { return }
        var bytes = bytes
        upstreamBuffer.writeBuffer(&bytes)
        perform(machine.upstreamBytes(&upstreamBuffer))
    }

    func upstreamTLSEstablished(attempt: Int) {
        guard attempt == self.attempt else { return }
        if runtime.configuration.tls.mode == .verifyFull, let expected = runtime.upstreamTLS.serverHostname,
            let certificate = try? upstream?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate,
            !CertificateName.certificate(certificate, matches: expected)
        {
            perform(machine.upstreamFailed(
                "TLS to \(runtime.configuration.upstream) failed: the server certificate does not match host name \(expected)",
                hint: "Connect by the endpoint's DNS name, or set tls.server_name to a name in the certificate."))
            return
        }
        perform(machine.upstreamTLSEstablished())
    }

    func upstreamError(_ error: any Error, attempt: Int) {
        guard attempt == self.attempt else { return }
        let (message, hint) = UpstreamFailure.describe(error, upstream: runtime.configuration.upstream, tls: runtime.configuration.tls)
        perform(machine.upstreamFailed(message, hint: hint))
    }

    func upstreamClosed(attempt: Int) {
        guard attempt == self.attempt, !machine.isRelaying else { return }
        perform(machine.upstreamFailed("the database server \(runtime.configuration.upstream) closed the connection during login"))
    }

    // MARK: Relay and endings

    private func startRelaying(context: ChannelHandlerContext) {
        guard let upstream else { return }
        handshakeTimer?.cancel()
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair()
        glue = (clientGlue, upstreamGlue)
        if upstreamBuffer.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(upstreamBuffer), promise: nil) }
        if clientBuffer.readableBytes > 0 { upstream.writeAndFlush(clientBuffer, promise: nil) }
        upstreamBuffer = ByteBuffer()
        clientBuffer = ByteBuffer()
        do {
            let upstreamPipeline = upstream.pipeline.syncOperations
            try upstreamPipeline.addHandler(upstreamGlue)
            try upstreamPipeline.removeHandler(upstreamPipeline.handler(type: UpstreamHandshakeHandler.self)).whenFailure { _ in }
            if let idle = runtime.configuration.idleTimeoutSeconds {
                let timeout = TimeAmount.milliseconds(Int64(idle * 1000))
                try context.pipeline.syncOperations.addHandlers([IdleStateHandler(allTimeout: timeout), IdleSessionCloser()])
            }
            try context.pipeline.syncOperations.addHandler(clientGlue)
            context.pipeline.syncOperations.removeHandler(context: context).whenFailure { _ in }
        } catch {
            finish(error: nil, reason: "cannot start relaying: \(error)")
            return
        }
        upstream.closeFuture.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        logger[metadataKey: "user"] = "\(machine.user)"
        logger[metadataKey: "db"] = "\(machine.database)"
        logger.info("session logged in", metadata: [
            "duration_ms": "\((NIODeadline.now() - openedAt).nanoseconds / 1_000_000)",
        ])
    }

    private func handshakeTimedOut() {
        guard !machine.isRelaying else { return }
        if machine.hasReadStartup {
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
        closeReason = "cancel request"
        context.close(promise: nil)
    }

    private func sessionEnded(_ channel: any Channel) {
        handshakeTimer?.cancel()
        upstream?.close(promise: nil)
        if let registeredKey { runtime.cancelRegistry.remove(registeredKey) }
        runtime.sessionClosed(channel)
        var metadata: Logger.Metadata = ["duration_ms": "\((NIODeadline.now() - openedAt).nanoseconds / 1_000_000)"]
        if let glue {
            metadata["bytes_up"] = "\(glue.client.bytesRead)"
            metadata["bytes_down"] = "\(glue.upstream.bytesRead)"
        }
        if let closeReason { metadata["reason"] = "\(closeReason)" }
        logger.info("connection closed", metadata: metadata)
    }
}

extension SocketAddress {
    /// `127.0.0.1:5432` / `[::1]:5432`, for log lines.
    var logDescription: String {
        guard let ip = ipAddress, let port else { return "\(self)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Closes a relaying session that moved no bytes for the listener's `idle_timeout`.
final class IdleSessionCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .all = event as? IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

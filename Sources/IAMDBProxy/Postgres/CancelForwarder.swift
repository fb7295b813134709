import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PostgresWire

/// Sends one CancelRequest to the upstream session that holds `key`: connect to the remembered
/// address, SSLRequest, TLS verified against the original host name, CancelRequest, close.
enum CancelForwarder {
    static func forward(_ key: BackendKey, to target: CancelRegistry.Target, on eventLoop: any EventLoop, timeout: TimeAmount, logger: Logger) {
        let tls = target.tls
        let host = target.host
        let done = eventLoop.makePromise(of: Void.self)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CancelHandler(key: key, tls: tls, host: host, done: done))
                }
            }
            .connect(to: target.address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    channel.closeFuture.whenComplete { _ in timer.cancel() }
                case .failure(let error):
                    done.fail(error)
                }
            }
        done.futureResult.whenComplete { result in
            switch result {
            case .success: logger.info("forwarded cancel request", metadata: ["upstream": "\(target.address.logDescription)"])
            case .failure(let error): logger.warning("could not forward cancel request", metadata: ["upstream": "\(target.address.logDescription)", "error": "\(error)"])
            }
        }
    }

    private final class CancelHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let key: BackendKey
        let tls: UpstreamTLSContext
        let host: HostAndPort
        let done: EventLoopPromise<Void>
        var awaitingSSLAnswer = true

        init(key: BackendKey, tls: UpstreamTLSContext, host: HostAndPort, done: EventLoopPromise<Void>) {
            self.key = key
            self.tls = tls
            self.host = host
            self.done = done
        }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(FrontendMessages.sslRequest()), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            guard awaitingSSLAnswer else { return }
            awaitingSSLAnswer = false
            guard buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "S") else {
                fail(context, CancelError.tlsRefused)
                return
            }
            do {
                try context.pipeline.syncOperations.addHandler(try tls.makeHandler(for: host), position: .first)
            } catch {
                fail(context, error)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case .handshakeCompleted = event as? TLSUserEvent else { return }
            let done = self.done
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(FrontendMessages.cancelRequest(key))).whenComplete { result in
                done.completeWith(result)
                channel.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            fail(context, error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(CancelError.closed)
        }

        private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }
    }

    enum CancelError: Error { case tlsRefused, closed }
}

import NIOCore
import NIOTLS

/// Sits on the upstream channel during login and hands every event to the session's
/// `UpstreamLink` (same event loop), tagged with the attempt it belongs to.
final class UpstreamHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let link: NIOLoopBound<UpstreamLink>
    private let attempt: Int

    init(link: NIOLoopBound<UpstreamLink>, attempt: Int) {
        self.link = link
        self.attempt = attempt
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        link.value.read(unwrapInboundIn(data), attempt: attempt)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            link.value.tlsEstablished(attempt: attempt)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        link.value.failed(error, attempt: attempt)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.value.closed(attempt: attempt)
    }
}

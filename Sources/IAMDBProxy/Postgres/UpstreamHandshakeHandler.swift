import NIOCore
import NIOTLS

/// Sits on the upstream channel during the handshake and hands every event to the session
/// (same event loop). `attempt` tells a retried login's events from a dropped connection's.
final class UpstreamHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let session: NIOLoopBound<PostgresSessionHandler>
    private let attempt: Int

    init(session: NIOLoopBound<PostgresSessionHandler>, attempt: Int) {
        self.session = session
        self.attempt = attempt
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.value.upstreamRead(unwrapInboundIn(data), attempt: attempt)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            session.value.upstreamTLSEstablished(attempt: attempt)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.value.upstreamError(error, attempt: attempt)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.value.upstreamClosed(attempt: attempt)
    }
}

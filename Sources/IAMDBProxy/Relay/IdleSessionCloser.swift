import NIOCore
import NIOExtras

/// Closes a connection when the `IdleStateHandler` in front of it fires: a relaying session
/// that moved no bytes for the listener's `idle_timeout`, an admin connection that sent no request.
final class IdleSessionCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

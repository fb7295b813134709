import NIOCore

/// Puts a `RelayMessageObserver` on the bytes a channel reads during relaying (in front of
/// that channel's glue), and lets a feature inject bytes towards the other side between two
/// messages: `inject` waits for the next boundary, so the stream is never corrupted.
final class MessageObserverHandler<Observer: RelayMessageObserver>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let observer: Observer
    private var tracker = MessageBoundaryTracker<Observer>()
    private var injections: [ByteBuffer] = []
    private var context: ChannelHandlerContext?

    init(observer: Observer) {
        self.observer = observer
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        tracker.scan(unwrapInboundIn(data), observer: observer) { piece in context.fireChannelRead(wrapInboundOut(piece)) }
        passInjections(context)
    }

    /// Sends `bytes` on as if read from this channel, at the next message boundary (now, if
    /// the stream is at one). Call on the channel's event loop.
    func inject(_ bytes: ByteBuffer) {
        injections.append(bytes)
        if let context {
            passInjections(context)
            context.fireChannelReadComplete()
        }
    }

    private func passInjections(_ context: ChannelHandlerContext) {
        guard tracker.isAtBoundary, !injections.isEmpty else { return }
        let pending = injections
        injections = []
        for bytes in pending { context.fireChannelRead(wrapInboundOut(bytes)) }
    }
}

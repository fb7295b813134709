import NIOCore
import NIOExtras

/// Turns a logged-in session into a byte relay, the same way for every engine.
enum SessionRelay {
    /// Joins the client channel (whose login handler owns `context`) and the upstream channel with a
    /// glue pair. `clientHandlers` sit in front of the client's glue (an engine's command
    /// inspector); an idle timeout is added when the listener has one. Bytes the client sent
    /// early pass through those handlers; bytes the upstream sent early go to the client.
    /// `observers` (off unless given) see each direction's messages just before its glue;
    /// `serverStream` lets a `SessionEndRequest` end the session with the engine's notice.
    static func start(client context: ChannelHandlerContext, upstream upstreamChannel: any Channel, pendingClientBytes: ByteBuffer, pendingUpstreamBytes: ByteBuffer, clientHandlers: [any ChannelHandler] = [],
                      idleTimeoutSeconds: Double?, counters: (up: ByteCounter, down: ByteCounter)? = nil,
                      observers: (client: (any ChannelHandler)?, upstream: (any ChannelHandler)?) = (nil, nil),
                      serverStream: (any ServerStreamEnding)? = nil
    ) throws -> (client: GlueHandler, upstream: GlueHandler) {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair(counting: counters, serverStream: serverStream)
        try upstreamChannel.pipeline.syncOperations.addHandlers([observers.upstream, upstreamGlue].compactMap { $0 })
        var handlers = clientHandlers
        if let idleTimeoutSeconds {
            handlers += [IdleStateHandler(allTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000))), IdleSessionCloser()]
        }
        try context.pipeline.syncOperations.addHandlers(handlers + [observers.client, clientGlue].compactMap { $0 })
        if pendingUpstreamBytes.readableBytes > 0 {
            // Through the upstream side's handlers, so an observer sees the stream from its first byte.
            upstreamChannel.pipeline.syncOperations.fireChannelRead(NIOAny(pendingUpstreamBytes))
            upstreamChannel.pipeline.syncOperations.fireChannelReadComplete()
        }
        if pendingClientBytes.readableBytes > 0 {
            // The glue writes on read and flushes on read-complete; without the second, a query
            // pipelined behind the login would wait for the client's next packet.
            context.fireChannelRead(NIOAny(pendingClientBytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context).whenFailure { _ in }
        upstreamChannel.closeFuture.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        return (clientGlue, upstreamGlue)
    }
}

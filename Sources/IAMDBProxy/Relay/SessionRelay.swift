import NIOCore
import NIOExtras

/// Turns a logged-in session into a byte relay, the same way for every engine.
enum SessionRelay {
    /// Joins the client channel (whose login handler owns `context`) and the upstream channel with a
    /// glue pair. `clientHandlers` sit in front of the client's glue (an engine's command
    /// inspector); an idle timeout is added when the listener has one. Bytes the client sent
    /// early pass through those handlers; bytes the upstream sent early go to the client.
    /// `observers` (none unless given) see each direction's messages just before its glue;
    /// `serverStream` lets a `SessionEndRequest` end the session with the engine's notice.
    static func start(client context: ChannelHandlerContext, upstream upstreamChannel: any Channel, pendingClientBytes: ByteBuffer, pendingUpstreamBytes: ByteBuffer, clientHandlers: [any ChannelHandler] = [],
                      idleTimeoutSeconds: Double?, counters: (up: ByteCounter, down: ByteCounter)? = nil,
                      observers: (client: [any ChannelHandler], upstream: [any RemovableChannelHandler]) = ([], []),
                      serverStream: (any ServerStreamEnding)? = nil
    ) throws -> RelayedSession {
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair(counting: counters, serverStream: serverStream)
        let upstreamHandlers: [any RemovableChannelHandler] = observers.upstream + [upstreamGlue]
        try upstreamChannel.pipeline.syncOperations.addHandlers(upstreamHandlers)
        var handlers = clientHandlers
        if let idleTimeoutSeconds {
            handlers += [IdleStateHandler(allTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000))), IdleSessionCloser()]
        }
        try context.pipeline.syncOperations.addHandlers(handlers + observers.client + [clientGlue])
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
        return RelayedSession(glue: (clientGlue, upstreamGlue), upstream: upstreamChannel, upstreamHandlers: upstreamHandlers)
    }
}

/// A running relay: its glue pair, and what it added to the upstream channel so a session that
/// outlives its client can be taken back out of it.
struct RelayedSession {
    let glue: (client: GlueHandler, upstream: GlueHandler)
    let upstream: any Channel
    let upstreamHandlers: [any RemovableChannelHandler]

    /// Takes the upstream channel out of the relay, as it was before relaying: the glue stops
    /// joining the two (closing the client no longer closes the upstream) and the relay's
    /// handlers leave the upstream pipeline. Call on the event loop.
    func detachUpstream() -> any Channel {
        glue.client.unpair()
        let pipeline = upstream.pipeline.syncOperations
        for handler in upstreamHandlers { pipeline.removeHandler(handler).whenFailure { _ in } }
        return upstream
    }
}

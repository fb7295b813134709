import NIOCore

/// The client side of `check --connect` for one engine: logs in through the proxy and
/// completes `verdict` with the error the client would see, or nil once logged in.
class CheckLogin: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let user: String
    let database: String?
    var buffer = ByteBuffer()
    private var promise: EventLoopPromise<String?>?
    var verdict: EventLoopPromise<String?> { promise! }

    init(user: String, database: String?) {
        self.user = user
        self.database = database
    }

    /// Sent as soon as the connection is up (nil: wait for the server to speak first).
    var firstMessage: ByteBuffer? { nil }

    /// Reads what is in `buffer`; completes `verdict` once the outcome is known.
    func readReplies(context: ChannelHandlerContext) {}

    func handlerAdded(context: ChannelHandlerContext) { promise = context.eventLoop.makePromise() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        readReplies(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) { verdict.succeed("the proxy closed the connection") }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { verdict.fail(error) }
}

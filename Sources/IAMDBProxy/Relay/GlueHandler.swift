import NIOCore

/// One half of a byte relay between two channels on the same event loop. Reads from one side
/// are written to the other; a side reads again only while its partner is writable, so a slow
/// reader stops the fast writer (back-pressure through the write-buffer water marks) instead of
/// letting the proxy buffer without bound.
final class GlueHandler: ChannelDuplexHandler {
    /// For both channels of a relayed session: a peer that reads slower than the other sends
    /// stops the sender's reads once 64 KiB wait, and resumes them below 32 KiB.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)

    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    /// Where this side's reads are counted for the metrics (shared by a listener's sessions).
    private var counter: ByteCounter?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Counts bytes that passed through this side (read from its channel).
    private(set) var bytesRead = 0

    private init() {}

    /// The first handler goes on the client channel, the second on the upstream channel.
    static func matchedPair(counting counters: (up: ByteCounter, down: ByteCounter)? = nil) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.counter = counters?.up
        second.counter = counters?.down
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    /// The other side closed: deliver what is queued here, then close. Closing the output
    /// first waits for the queued writes (and sends TLS close_notify through NIOSSL), so no
    /// promise has to be kept per relayed write to learn when the queue drained.
    private func partnerClosed() {
        guard let context else { return }
        let channel = context.channel
        context.flush()
        context.close(mode: .output).whenComplete { _ in channel.close(promise: nil) }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytesRead += buffer.readableBytes
        counter?.add(buffer.readableBytes)
        partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}

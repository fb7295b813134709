import NIOCore

/// One half of a byte relay between two channels on the same event loop. Reads from one side
/// are written to the other; a side reads again only while its partner is writable, so a slow
/// reader stops the fast writer (back-pressure through the write-buffer water marks) instead of
/// letting the proxy buffer without bound.
final class GlueHandler: ChannelDuplexHandler, RemovableChannelHandler {
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
    /// On the upstream side: follows the server's messages, so the session can end between two.
    private var serverStream: (any ServerStreamEnding)?
    /// On the upstream side: the session is to end at the next server message boundary
    /// (`.requested`), or has sent its notice and drops what the server still sends (`.noticeSent`).
    private var ending = Ending.no
    private enum Ending { case no, requested(SessionEndReason), noticeSent }

    private init() {}

    /// The first handler goes on the client channel, the second on the upstream channel.
    /// `serverStream`, when given, lets the session end with the engine's notice (`SessionEndRequest`).
    static func matchedPair(counting counters: (up: ByteCounter, down: ByteCounter)? = nil,
                            serverStream: (any ServerStreamEnding)? = nil) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.counter = counters?.up
        second.counter = counters?.down
        second.serverStream = serverStream
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

    /// Ends the pairing both ways: from now on neither side writes to, closes or waits for the
    /// other (a session whose upstream outlives its client). Call on the event loop.
    func unpair() {
        partner?.partner = nil
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
        var buffer = unwrapInboundIn(data)
        bytesRead += buffer.readableBytes
        counter?.add(buffer.readableBytes)
        if let serverStream {
            if case .noticeSent = ending { return }
            if case .requested(let reason) = ending {
                let passed = serverStream.advance(over: buffer, stoppingAtBoundary: true)
                buffer = buffer.getSlice(at: buffer.readerIndex, length: passed) ?? ByteBuffer()
                if buffer.readableBytes > 0 { partner?.partnerWrite(buffer) }
                if serverStream.isAtBoundary { endWithNotice(context: context, reason: reason) }
                return
            }
            _ = serverStream.advance(over: buffer, stoppingAtBoundary: false)
        }
        partner?.partnerWrite(buffer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let request = event as? SessionEndRequest else { return context.fireUserInboundEventTriggered(event) }
        // Fired on the client channel; the server's stream is followed on the partner.
        if serverStream == nil, let partner { partner.endRequested(request.reason) } else { endRequested(request.reason) }
    }

    /// Ends the session now if the server's stream is between messages, else at its next boundary.
    private func endRequested(_ reason: SessionEndReason) {
        guard let context else { return }
        guard let serverStream else { return context.close(promise: nil) }
        if serverStream.isAtBoundary { return endWithNotice(context: context, reason: reason) }
        ending = .requested(reason)
        context.eventLoop.scheduleTask(in: SessionEndRequest.boundaryWait) { [channel = context.channel] in channel.close(promise: nil) }
    }

    /// Sends the client the engine's notice, then closes both sides.
    private func endWithNotice(context: ChannelHandlerContext, reason: SessionEndReason) {
        if case .noticeSent = ending { return context.close(promise: nil) }
        guard let serverStream, let partner else { return context.close(promise: nil) }
        ending = .noticeSent
        partner.partnerWrite(serverStream.notice(for: reason))
        partner.partnerClosed()
        context.close(promise: nil)
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

import NIOCore
import PostgresWire

/// Sits on the upstream channel of a PostgreSQL session whose client ended cleanly: resets the
/// session (`SessionResetExchange`: `DISCARD ALL`, only the exact answer accepted, within the
/// handshake timeout), then parks it and watches it while it waits. A warm session, logged in
/// ahead of any client, is parked and watched without a reset. Any message from the server
/// while parked (an idle-session timeout, an administrator's termination) or the connection
/// closing takes it out of the pool: only a quiet, open session is handed out. The next client's
/// session removes this handler before relaying.
final class PostgresSessionResetHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    static let terminate: ByteBuffer = {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "X"))
        buffer.writeInteger(Int32(4))
        return buffer
    }()

    private enum Phase { case resetting, parked, done }

    private let pool: SessionPool
    private let metrics: (ProxyMetrics, listener: String)
    private let timeout: TimeAmount
    private var parked: SessionPool.Parked
    private var session: PostgresLoggedInSession
    private var exchange = SessionResetExchange()
    private var buffer = ByteBuffer()
    private var phase = Phase.resetting
    private var timer: Scheduled<Void>?

    /// `parked`: the session as it will be parked (its state is replaced with `session` after the
    /// reset); `reset: false` for a warm session that has served nobody.
    init(pool: SessionPool, parked: SessionPool.Parked, session: PostgresLoggedInSession, reset: Bool = true, timeout: TimeAmount,
         metrics: (ProxyMetrics, listener: String)) {
        self.pool = pool
        self.parked = parked
        self.session = session
        self.timeout = timeout
        self.metrics = metrics
        if !reset { phase = .parked }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard phase == .resetting else {
            if pool.park(parked) != nil { phase = .done }
            return
        }
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            handler.value.resetFailed("no answer to \(SessionResetExchange.statement) within the handshake timeout", channel: channel)
        }
        context.writeAndFlush(NIOAny(exchange.request), promise: nil)
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        phase = .done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch phase {
        case .resetting:
            buffer.writeBuffer(&bytes)
            switch exchange.serverBytes(&buffer) {
            case .pending:
                return
            case .reset(let parameters):
                timer?.cancel()
                for (name, value) in parameters { session.report(name, value) }
                count("ok")
                phase = .parked
                buffer = ByteBuffer()
                parked = SessionPool.Parked(id: parked.id, key: parked.key, keyDescription: parked.keyDescription, channel: parked.channel,
                                            state: session, bornAt: parked.bornAt, uses: parked.uses, farewell: Self.terminate)
                if pool.park(parked) != nil { phase = .done }
            case .failed(let reason):
                resetFailed(reason, channel: context.channel)
            }
        case .parked:
            phase = .done
            pool.discard(id: parked.id, key: parked.key, reason: .serverClosed, detail: "the server sent a message while the session was parked")
        case .done:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch phase {
        case .resetting: resetFailed("the server closed the connection during the reset", channel: context.channel)
        case .parked: pool.discard(id: parked.id, key: parked.key, reason: .serverClosed, detail: nil)
        case .done: break
        }
        phase = .done
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func resetFailed(_ reason: String, channel: any Channel) {
        guard phase == .resetting else { return }
        phase = .done
        timer?.cancel()
        count("failed")
        pool.counted(.resetFailed, key: parked.keyDescription, detail: reason)
        channel.writeAndFlush(Self.terminate).whenComplete { _ in channel.close(promise: nil) }
    }

    private func count(_ result: String) {
        metrics.0.increment(ProxyMetrics.reuseResets, [("listener", metrics.listener), ("result", result)])
    }
}

import NIOCore

/// An engine's reset of an upstream session whose client ended cleanly: what it sends, how it
/// reads the answer, and the state the session is parked with afterwards.
protocol SessionReset: SendableMetatype {
    var request: ByteBuffer { get }
    mutating func serverBytes(_ buffer: inout ByteBuffer) -> SessionResetStep
    /// How to greet the next client (after the reset: with what the server reported during it).
    var parkedState: any Sendable { get }
}

enum SessionResetStep: Equatable {
    case pending
    /// Send this next, and keep reading.
    case send(ByteBuffer)
    case reset
    case failed(String)
}

/// Sits on the upstream channel of a session whose client ended cleanly: runs the engine's
/// reset (only its exact answer accepted, within the handshake timeout), then parks the session
/// and watches it while it waits. A warm session, logged in ahead of any client, is parked and
/// watched without a reset. Any message from the server while parked (an idle-session timeout,
/// an administrator's termination) or the connection closing takes it out of the pool: only a
/// quiet, open session is handed out. The next client's session removes this handler.
final class ParkedSessionHandler<Reset: SessionReset>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private enum Phase { case resetting, parked, done }

    private let pool: SessionPool
    private let metrics: (ProxyMetrics, listener: String)
    private let timeout: TimeAmount
    private var parked: SessionPool.Parked
    private var reset: Reset?
    private var buffer = ByteBuffer()
    private var phase = Phase.resetting
    private var timer: Scheduled<Void>?

    /// `parked`: the session as it will be parked (its state replaced by the reset's); `reset: nil`
    /// for a warm session that has served nobody.
    init(pool: SessionPool, parked: SessionPool.Parked, reset: Reset?, timeout: TimeAmount, metrics: (ProxyMetrics, listener: String)) {
        self.pool = pool
        self.parked = parked
        self.reset = reset
        self.timeout = timeout
        self.metrics = metrics
        if reset == nil { phase = .parked }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard phase == .resetting, let reset else {
            if pool.park(parked) != nil { phase = .done }
            return
        }
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            handler.value.resetFailed("no answer to the reset within the handshake timeout", channel: channel)
        }
        context.writeAndFlush(NIOAny(reset.request), promise: nil)
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
            guard var reset else { return }
            buffer.writeBuffer(&bytes)
            let step = reset.serverBytes(&buffer)
            self.reset = reset
            switch step {
            case .pending:
                return
            case .send(let request):
                context.writeAndFlush(NIOAny(request), promise: nil)
            case .reset:
                timer?.cancel()
                count("ok")
                phase = .parked
                buffer = ByteBuffer()
                parked = SessionPool.Parked(id: parked.id, key: parked.key, keyDescription: parked.keyDescription, channel: parked.channel,
                                            state: reset.parkedState, bornAt: parked.bornAt, uses: parked.uses, farewell: parked.farewell)
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
        channel.writeAndFlush(parked.farewell).whenComplete { _ in channel.close(promise: nil) }
    }

    private func count(_ result: String) {
        metrics.0.increment(ProxyMetrics.reuseResets, [("listener", metrics.listener), ("result", result)])
    }
}

extension SessionPool {
    /// Puts a `ParkedSessionHandler` on `channel`: the session is reset (unless `reset` is nil:
    /// a warm session) and parked for the next client with `key`; if that cannot start, the
    /// channel is closed and counted.
    func resetAndPark<Reset: SessionReset>(_ channel: any Channel, key: String, keyDescription: String, state: any Sendable, bornAt: NIODeadline,
                                           uses: Int, farewell: ByteBuffer, reset: Reset?, runtime: ListenerRuntime) {
        let parked = Parked(id: makeID(), key: key, keyDescription: keyDescription, channel: channel, state: state, bornAt: bornAt, uses: uses,
                            farewell: farewell)
        do {
            try channel.pipeline.syncOperations.addHandler(ParkedSessionHandler(
                pool: self, parked: parked, reset: reset, timeout: runtime.handshakeTimeout, metrics: (runtime.metrics, runtime.configuration.name)))
        } catch {
            counted(.resetFailed, key: keyDescription, detail: "\(error)")
            channel.close(promise: nil)
        }
    }
}

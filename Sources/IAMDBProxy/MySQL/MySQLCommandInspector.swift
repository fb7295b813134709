import Logging
import MySQLWire
import NIOCore

/// Sits in front of the client's glue while a MySQL session relays. Bytes pass through
/// untouched except two commands the proxy answers itself: COM_CHANGE_USER (refused: the
/// new user would need its own token) and `KILL` of a connection id from a proxy greeting
/// (carried out against the server that runs that session). Input that arrives while a KILL
/// is being carried out waits, so replies stay in order, and the client is not read from
/// until the KILL is answered, so what waits is at most one read.
final class MySQLCommandInspector: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Carries out a KILL against the target session and calls back with the reply payload.
    typealias KillCarrier = (KillStatement, MySQLSessionRegistry.Session, String, any EventLoop, Logger, @escaping (ByteBuffer) -> Void) -> Void

    private let runtime: ListenerRuntime
    private let sessions: MySQLSessionRegistry
    private let user: String
    private let logger: Logger
    private let carryOut: KillCarrier
    private var framer: CommandFramer
    /// Framed but not yet handled, because a KILL is being carried out.
    private var queuedOutputs: [CommandFramer.Output] = []
    /// Not yet framed, for the same reason.
    private var queuedInput: [ByteBuffer] = []
    private var killInProgress = false
    /// A read was asked for while a KILL ran; it is passed on when the KILL is answered.
    private var readHeld = false
    private var removed = false
    /// With `session_reuse`: told of each command that reaches the server, and asked at COM_QUIT.
    private let follower: MySQLReuseFollower?

    init(runtime: ListenerRuntime, sessions: MySQLSessionRegistry, user: String, logger: Logger, follower: MySQLReuseFollower? = nil,
         carryOut: @escaping KillCarrier = MySQLKillForwarder.forward) {
        self.runtime = runtime
        self.sessions = sessions
        self.user = user
        self.logger = logger
        self.carryOut = carryOut
        self.follower = follower
        framer = CommandFramer(followsCommands: follower != nil, isProxyConnectionID: { MySQLSessionRegistry.proxyIDs.contains($0) })
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard !killInProgress else {
            queuedInput.append(bytes)
            return
        }
        for output in framer.feed(bytes) {
            if killInProgress { queuedOutputs.append(output) } else { handle(output, context: context) }
        }
    }

    private func handle(_ output: CommandFramer.Output, context: ChannelHandlerContext) {
        switch output {
        case .forward(let bytes):
            context.fireChannelRead(wrapInboundOut(bytes))
        case .intercept(.changeUser):
            logger.info("COM_CHANGE_USER refused")
            reply(ErrorPacket.notSupported(
                "iam-db-proxy: COM_CHANGE_USER is not supported; each IAM user needs its own token, so open a new connection as that user"
            ).encode(), context: context)
        case .intercept(.kill(let statement)):
            kill(statement, context: context)
        case .started(let command):
            follower?.clientCommand(command)
        case .intercept(.quit):
            // Parked for the next client, or the server ends the session as the client asked.
            if follower?.quit() != true { context.fireChannelRead(wrapInboundOut(MySQLSessionResetExchange.quit)) }
        }
    }

    /// Handles what waited behind a KILL, stopping again at the next one.
    private func drain(context: ChannelHandlerContext) {
        while !killInProgress {
            if !queuedOutputs.isEmpty {
                handle(queuedOutputs.removeFirst(), context: context)
            } else if !queuedInput.isEmpty {
                queuedOutputs = framer.feed(queuedInput.removeFirst())
            } else {
                break
            }
        }
    }

    private func kill(_ statement: KillStatement, context: ChannelHandlerContext) {
        guard let target = sessions.session(for: statement.connectionID, listener: runtime.configuration.name) else {
            reply(ErrorPacket.unknownThread(statement.connectionID).encode(), context: context)
            return
        }
        killInProgress = true
        let inspector = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBox = NIOLoopBound(context, eventLoop: context.eventLoop)
        logger.info("forwarding KILL", metadata: ["kill": "\(statement.target.rawValue.lowercased())", "target_conn": "\(statement.connectionID)"])
        carryOut(statement, target, user, context.eventLoop, logger) { reply in
            inspector.value.killFinished(reply, context: contextBox.value)
        }
    }

    func read(context: ChannelHandlerContext) {
        if killInProgress {
            readHeld = true
        } else {
            context.read()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    private func killFinished(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        // The client may have gone while the KILL was carried out.
        guard !removed else { return }
        reply(payload, context: context)
        killInProgress = false
        drain(context: context)
        // What waited went to the glue without a read-complete; this one makes it flush.
        context.fireChannelReadComplete()
        if readHeld, !killInProgress {
            readHeld = false
            context.read()
        }
    }

    /// The reply to a command the client sent with sequence id 0.
    private func reply(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        var frame = ByteBuffer()
        PacketFrame(sequenceID: 1, payload: payload).encode(into: &frame)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}

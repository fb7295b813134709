import Logging
import MySQLWire
import NIOCore

/// Carries out `KILL [QUERY|CONNECTION] <proxy id>`: logs in to the server that runs the
/// target session (its remembered address, over TLS, as the user who sent the KILL, so the
/// server applies its own privilege rules), sends the KILL with the server's thread id, and
/// hands the server's OK or ERR payload back.
final class MySQLKillForwarder {
    private let statement: KillStatement
    private let target: MySQLSessionRegistry.Session
    private var side: MySQLSideLogin?
    private var completion: ((ByteBuffer) -> Void)?
    private var timer: Scheduled<Void>?
    private let logger: Logger
    /// Keeps this forwarder alive until it has answered.
    private var retainedSelf: MySQLKillForwarder?

    private init(statement: KillStatement, target: MySQLSessionRegistry.Session, logger: Logger, completion: @escaping (ByteBuffer) -> Void) {
        self.statement = statement
        self.target = target
        self.logger = logger
        self.completion = completion
    }

    static func forward(_ statement: KillStatement, to target: MySQLSessionRegistry.Session, as user: String, on eventLoop: any EventLoop,
                        logger: Logger, completion: @escaping (ByteBuffer) -> Void) {
        MySQLKillForwarder(statement: statement, target: target, logger: logger, completion: completion).start(user: user, eventLoop: eventLoop)
    }

    private func start(user: String, eventLoop: any EventLoop) {
        retainedSelf = self
        let forwarder = NIOLoopBound(self, eventLoop: eventLoop)
        let runtime = target.runtime
        timer = eventLoop.scheduleTask(in: (runtime.connectTimeout + runtime.handshakeTimeout) * 2) {
            forwarder.value.failed("no answer from \(forwarder.value.target.address.logDescription) in time")
        }
        let side = MySQLSideLogin(user: user, for: "KILL", runtime: runtime, destination: .address(target.address, host: target.host), eventLoop: eventLoop, logger: logger) { event in
            forwarder.value.handle(event)
        }
        self.side = side
        side.start()
    }

    private func handle(_ event: MySQLSideLogin.Event) {
        switch event {
        case .loggedIn:
            var query = ByteBuffer(integer: CommandFramer.commandQuery)
            query.writeString(statement.sql(connectionID: UInt64(target.upstreamConnectionID)))
            var frame = ByteBuffer()
            PacketFrame(sequenceID: 0, payload: query).encode(into: &frame)
            side?.send(frame)
        case .packet(let frame): finish(frame.payload)
        case .refused(let error): finish(error.encode())
        case .failed(let reason): failed(reason)
        }
    }

    private func failed(_ reason: String) {
        logger.warning("KILL could not be carried out", metadata: ["error": "\(reason)"])
        finish(ErrorPacket.cannotConnect("iam-db-proxy: KILL \(statement.connectionID) failed: \(reason)").encode())
    }

    private func finish(_ reply: ByteBuffer) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        side?.close()
        side = nil
        completion(reply)
        retainedSelf = nil
    }
}

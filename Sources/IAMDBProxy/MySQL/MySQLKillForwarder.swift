import Logging
import MySQLWire
import NIOCore

/// Carries out `KILL [QUERY|CONNECTION] <proxy id>`: logs in to the server that runs the
/// target session (its remembered address, over TLS, as the user who sent the KILL, so the
/// server applies its own privilege rules), sends the KILL with the server's thread id, and
/// hands the server's OK or ERR payload back.
final class MySQLKillForwarder: UpstreamLinkDelegate {
    /// utf8mb4_general_ci for the side connection (the KILL statement itself is ASCII).
    static let utf8mb4: UInt8 = 45

    private let statement: KillStatement
    private let target: MySQLSessionRegistry.Session
    private let user: String
    private let link: UpstreamLink
    private var login: MySQLUpstreamLogin
    /// The password in use (a refusal of a cached one earns one retry with a fresh one, as a login does).
    private var password: LoginPassword?
    private var retried = false
    private var loggedIn = false
    private var buffer = ByteBuffer()
    private var completion: ((ByteBuffer) -> Void)?
    private var timer: Scheduled<Void>?
    private let logger: Logger
    /// Keeps this forwarder alive until it has answered (the link holds it weakly).
    private var retainedSelf: MySQLKillForwarder?

    private init(statement: KillStatement, target: MySQLSessionRegistry.Session, user: String, eventLoop: any EventLoop,
                 logger: Logger, completion: @escaping (ByteBuffer) -> Void) {
        self.statement = statement
        self.target = target
        self.user = user
        self.logger = logger
        self.completion = completion
        link = UpstreamLink(dial: target.runtime.upstreamDial, eventLoop: eventLoop)
        login = Self.makeLogin(user: user, runtime: target.runtime)
    }

    private static func makeLogin(user: String, runtime: ListenerRuntime) -> MySQLUpstreamLogin {
        MySQLUpstreamLogin(client: .init(capabilities: .minimalClient, characterSet: utf8mb4, user: user), credential: runtime.configuration.auth.mysqlCredential)
    }

    static func forward(_ statement: KillStatement, to target: MySQLSessionRegistry.Session, as user: String, on eventLoop: any EventLoop,
                        logger: Logger, completion: @escaping (ByteBuffer) -> Void) {
        let forwarder = MySQLKillForwarder(statement: statement, target: target, user: user, eventLoop: eventLoop,
                                           logger: logger, completion: completion)
        forwarder.start(eventLoop: eventLoop)
    }

    private func start(eventLoop: any EventLoop) {
        retainedSelf = self
        link.delegate = self
        let forwarder = NIOLoopBound(self, eventLoop: eventLoop)
        let runtime = target.runtime
        timer = eventLoop.scheduleTask(in: (runtime.connectTimeout + runtime.handshakeTimeout) * 2) {
            forwarder.value.failed("no answer from \(forwarder.value.target.address.logDescription) in time")
        }
        logIn()
    }

    /// Dials the target's server and gets a token, both at once.
    private func logIn() {
        let forwarder = NIOLoopBound(self, eventLoop: link.eventLoop)
        link.connect(to: target.address)
        let attempt = link.attempt
        target.runtime.fetchPassword(user: user, on: link.eventLoop) { result in forwarder.value.passwordArrived(result, attempt: attempt) }
    }

    private func passwordArrived(_ result: Result<LoginPassword, any Error>, attempt: Int) {
        guard attempt == link.attempt, completion != nil else { return }
        switch result {
        case .success(let password):
            self.password = password
            perform(login.tokenReady(password.secret))
        case .failure(let error): failed("no password: \(error)")
        }
    }

    /// A cached token was refused: forget it and the credentials, and log in once more.
    private func retryWithFreshToken() {
        retried = true
        logger.info("cached token refused for KILL; retrying once with a fresh token")
        target.runtime.metrics.increment(ProxyMetrics.tokenRetries, [("listener", target.runtime.configuration.name)])
        password?.forget()
        password = nil
        buffer.clear()
        login = Self.makeLogin(user: user, runtime: target.runtime)
        logIn()
    }

    private func perform(_ steps: [MySQLUpstreamLogin.Step]) {
        for step in steps {
            switch step {
            case .send(let bytes): link.send(bytes)
            case .startTLS: link.startTLS()
            case .greeted: break
            case .loggedIn:
                loggedIn = true
                let sql = statement.sql(connectionID: UInt64(target.upstreamConnectionID))
                var query = ByteBuffer(integer: CommandFramer.commandQuery)
                query.writeString(sql)
                var frame = ByteBuffer()
                PacketFrame(sequenceID: 0, payload: query).encode(into: &frame)
                link.send(frame)
            case .refused(let error, let retryable):
                if retryable, error.sqlState == "28000", password?.wasCached == true, !retried {
                    retryWithFreshToken()
                    return
                }
                finish(error.encode())
            case .failed(let reason): failed(reason)
            }
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
        if loggedIn {
            // COM_QUIT, so the server does not count an aborted connection.
            link.send(ByteBuffer(bytes: [1, 0, 0, 0, 0x01]))
        }
        link.close()
        completion(reply)
        retainedSelf = nil
    }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() {}

    func upstreamRead(_ bytes: ByteBuffer) {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        while completion != nil, let frame = PacketFrame.decode(from: &buffer) {
            if loggedIn {
                finish(frame.payload)
            } else {
                perform(login.packet(frame))
            }
        }
    }

    func upstreamTLSEstablished() { perform(login.tlsEstablished()) }

    func upstreamFailed(_ message: String, hint: String?) { failed(message) }
}

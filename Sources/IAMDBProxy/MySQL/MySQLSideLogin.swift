import Logging
import MySQLWire
import NIOCore

/// A MySQL login with no client behind it (`MySQLUpstreamLogin` over an `UpstreamLink`), for the
/// KILL forwarder and the topology monitor: dials a known address or a given host, answers with
/// a token signed for that host (one retry with a fresh token after a refused cached one, as a
/// session does), and then hands every packet the server sends to `events`.
final class MySQLSideLogin: UpstreamLinkDelegate {
    enum Destination {
        /// A known server (a session's), reached as `host` (its token and TLS name).
        case address(SocketAddress, host: HostAndPort)
        case host(HostAndPort)
    }

    enum Event {
        case loggedIn
        case packet(PacketFrame)
        /// The server refused the login.
        case refused(ErrorPacket)
        /// The login or the connection failed (including a close after login).
        case failed(String)
    }

    /// utf8mb4_general_ci for side connections (their statements are ASCII).
    static let utf8mb4: UInt8 = 45

    private let user: String
    /// What the login is for, in log lines ("KILL", "the topology monitor").
    private let purpose: String
    private let runtime: ListenerRuntime
    private let destination: Destination
    let link: UpstreamLink
    private var login: MySQLUpstreamLogin
    private var password: LoginPassword?
    private var retried = false
    private(set) var isLoggedIn = false
    private var buffer = ByteBuffer()
    private var events: ((Event) -> Void)?
    private let logger: Logger

    init(user: String, for purpose: String, runtime: ListenerRuntime, destination: Destination, eventLoop: any EventLoop, logger: Logger,
         events: @escaping (Event) -> Void) {
        self.user = user
        self.purpose = purpose
        self.runtime = runtime
        self.destination = destination
        self.logger = logger
        self.events = events
        link = UpstreamLink(dial: runtime.upstreamDial, eventLoop: eventLoop)
        login = Self.makeLogin(user: user, runtime: runtime)
    }

    private static func makeLogin(user: String, runtime: ListenerRuntime) -> MySQLUpstreamLogin {
        MySQLUpstreamLogin(client: .init(capabilities: .minimalClient, characterSet: utf8mb4, user: user), credential: runtime.configuration.auth.mysqlCredential)
    }

    /// Dials and gets a token for the host dialed, both at once. The link holds this login
    /// weakly: the caller keeps it.
    func start() {
        link.delegate = self
        let side = NIOLoopBound(self, eventLoop: link.eventLoop)
        let fetch: (HostAndPort) -> Void = { target in
            let attempt = side.value.link.attempt
            side.value.runtime.fetchPassword(user: side.value.user, at: target, on: side.value.link.eventLoop) { result in
                side.value.passwordArrived(result, attempt: attempt)
            }
        }
        switch destination {
        case .address(let address, let host): link.connect(to: address, host: host, targetChosen: fetch)
        case .host(let host): link.connect(host: host, targetChosen: fetch)
        }
    }

    func send(_ bytes: ByteBuffer) { link.send(bytes) }

    /// Ends the connection (COM_QUIT first when logged in, so the server counts no aborted
    /// connection); no more events.
    func close() {
        events = nil
        if isLoggedIn { link.send(ByteBuffer(bytes: [1, 0, 0, 0, 0x01])) }
        link.close()
    }

    private func passwordArrived(_ result: Result<LoginPassword, any Error>, attempt: Int) {
        guard attempt == link.attempt, events != nil else { return }
        switch result {
        case .success(let password):
            self.password = password
            perform(login.tokenReady(password.secret))
        case .failure(let error): emit(.failed("no password: \(error)"))
        }
    }

    private func perform(_ steps: [MySQLUpstreamLogin.Step]) {
        for step in steps {
            switch step {
            case .send(let bytes): link.send(bytes)
            case .startTLS: link.startTLS()
            case .greeted: break
            case .loggedIn:
                isLoggedIn = true
                emit(.loggedIn)
            case .refused(let error, let retryable):
                if retryable, error.sqlState == "28000", password?.wasCached == true, !retried {
                    return retryWithFreshToken()
                }
                emit(.refused(error))
            case .failed(let reason): emit(.failed(reason))
            }
        }
    }

    /// A cached token was refused: forget it and the credentials, and log in once more.
    private func retryWithFreshToken() {
        retried = true
        logger.info("cached token refused for \(purpose); retrying once with a fresh token")
        runtime.metrics.increment(ProxyMetrics.tokenRetries, [("listener", runtime.configuration.name)])
        password?.forget()
        password = nil
        buffer.clear()
        login = Self.makeLogin(user: user, runtime: runtime)
        start()
    }

    private func emit(_ event: Event) { events?(event) }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() {}

    func upstreamRead(_ bytes: ByteBuffer) {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        while events != nil, let frame = PacketFrame.decode(from: &buffer) {
            if isLoggedIn {
                emit(.packet(frame))
            } else {
                perform(login.packet(frame))
            }
        }
    }

    func upstreamTLSEstablished() { perform(login.tlsEstablished()) }

    func upstreamFailed(_ message: String, hint: String?) { emit(.failed(message)) }
}

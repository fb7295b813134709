import Logging
import NIOCore
import PostgresWire

/// Logs in one PostgreSQL session with no client behind it, as a client with `startup` would
/// have: the same handshake machine is fed that startup message and what it would send the
/// client is dropped. For warm sessions (`session_reuse` `min_idle`) and the topology monitor.
/// `finished` gets the logged-in upstream channel (past its handshake handler) or why not.
final class PostgresHeadlessLogin: UpstreamLinkDelegate {
    typealias Finished = (Result<(channel: any Channel, session: PostgresLoggedInSession), HeadlessLoginFailed>) -> Void

    private let runtime: ListenerRuntime
    private let startup: ByteBuffer
    private let host: HostAndPort?
    private let eventLoop: any EventLoop
    private var machine: PostgresProxyHandshake
    private let upstream: UpstreamLink
    private var upstreamBuffer = ByteBuffer()
    private var password: LoginPassword?
    private var timer: Scheduled<Void>?
    private var finished: Finished?

    /// Starts the login on `eventLoop`: to `host` (else where the listener's resolver says),
    /// checking the server is writable when `checksWritable`.
    static func start(startup: ByteBuffer, host: HostAndPort? = nil, checksWritable: Bool, runtime: ListenerRuntime,
                      on eventLoop: any EventLoop, finished: @escaping Finished) {
        eventLoop.assertInEventLoop()
        PostgresHeadlessLogin(startup: startup, host: host, checksWritable: checksWritable, runtime: runtime, eventLoop: eventLoop, finished: finished).begin()
    }

    private init(startup: ByteBuffer, host: HostAndPort?, checksWritable: Bool, runtime: ListenerRuntime, eventLoop: any EventLoop, finished: @escaping Finished) {
        self.startup = startup
        self.host = host
        self.runtime = runtime
        self.eventLoop = eventLoop
        self.finished = finished
        machine = PostgresProxyHandshake(configuration: .init(checksWritable: checksWritable))
        upstream = UpstreamLink(dial: runtime.upstreamDial, eventLoop: eventLoop)
    }

    /// Holds itself (through the link's delegate and the timer) until the login ends.
    private func begin() {
        upstream.delegate = self
        let login = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleTask(in: runtime.handshakeTimeout) {
            login.value.end(.failure(HeadlessLoginFailed(
                reason: "the login to \(login.value.upstream.target) did not finish within \(login.value.runtime.configuration.handshakeTimeoutSeconds) s")))
        }
        var startup = self.startup
        perform(machine.clientBytes(&startup))
    }

    private func perform(_ actions: [PostgresProxyHandshake.Action]) {
        for action in actions {
            switch action {
            case .sendToClient, .acceptClientTLS, .forwardCancel, .registerBackendKey:
                break
            case .connectUpstream(let user), .retryWithFreshToken(let user):
                password?.forget()
                upstreamBuffer.clear()
                let login = NIOLoopBound(self, eventLoop: eventLoop)
                upstream.connect(host: host, targetChosen: { target in login.value.fetchPassword(user: user, at: target) })
            case .sendToUpstream(let bytes):
                upstream.send(bytes)
            case .startUpstreamTLS:
                upstream.startTLS()
            case .startRelaying:
                loggedIn()
            case .fail(let failure), .retryThrottled(_, let failure), .retryReadOnly(_, let failure):
                // Never a retry here: nobody waits on this login, and a throttled server gets no more load.
                end(.failure(HeadlessLoginFailed(reason: failure.reason)))
            }
        }
    }

    private func fetchPassword(user: String, at target: HostAndPort) {
        let login = NIOLoopBound(self, eventLoop: eventLoop)
        let attempt = upstream.attempt
        runtime.fetchPassword(user: user, at: target, on: eventLoop) { result in
            guard attempt == login.value.upstream.attempt else { return }
            switch result {
            case .success(let password):
                login.value.password = password
                login.value.perform(login.value.machine.tokenReady(password.secret, wasCached: password.wasCached))
            case .failure(let error):
                login.value.perform(login.value.machine.tokenFailed("\(error)"))
            }
        }
    }

    private func loggedIn() {
        guard let session = machine.loggedInSession, upstreamBuffer.readableBytes == 0, let channel = try? upstream.handOff() else {
            return end(.failure(HeadlessLoginFailed(reason: "the server's login answer could not be kept")))
        }
        end(.success((channel, session)))
    }

    private func end(_ result: Result<(channel: any Channel, session: PostgresLoggedInSession), HeadlessLoginFailed>) {
        guard let finished else { return }
        self.finished = nil
        timer?.cancel()
        if case .failure = result { upstream.close() }
        upstream.delegate = nil
        finished(result)
    }

    // MARK: UpstreamLinkDelegate

    func upstreamConnected() { perform(machine.upstreamConnected()) }

    func upstreamRead(_ bytes: ByteBuffer) {
        var bytes = bytes
        upstreamBuffer.writeBuffer(&bytes)
        perform(machine.upstreamBytes(&upstreamBuffer))
    }

    func upstreamTLSEstablished() { perform(machine.upstreamTLSEstablished(serverCertificate: upstream.peerCertificateDER)) }

    func upstreamFailed(_ message: String, hint: String?) {
        guard finished != nil else { return }
        perform(machine.upstreamFailed(message, hint: hint))
    }
}

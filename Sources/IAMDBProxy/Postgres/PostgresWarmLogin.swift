import Logging
import NIOCore
import PostgresWire

/// Logs in one PostgreSQL session ahead of any client (`session_reuse` `min_idle`), as a client
/// with the key's startup would have: the same handshake machine is fed that startup message,
/// what it would send the client is dropped, and the logged-in upstream is parked (watched by
/// `ParkedSessionHandler`, without a reset) for the next client with the key.
final class PostgresWarmLogin: UpstreamLinkDelegate {
    private let runtime: ListenerRuntime
    private let recipe: SessionPool.Recipe
    private let key: PostgresSessionKey
    private let eventLoop: any EventLoop
    private var machine: PostgresProxyHandshake
    private let upstream: UpstreamLink
    private var upstreamBuffer = ByteBuffer()
    private var password: LoginPassword?
    private var timer: Scheduled<Void>?
    private var ended = false
    private let bornAt = NIODeadline.now()

    /// Starts a warm login for `recipe` (whose details are a `PostgresSessionKey`) on `eventLoop`.
    static func start(_ recipe: SessionPool.Recipe, runtime: ListenerRuntime, on eventLoop: any EventLoop) {
        guard let key = recipe.details as? PostgresSessionKey else { return }
        eventLoop.execute {
            PostgresWarmLogin(recipe: recipe, key: key, runtime: runtime, eventLoop: eventLoop).begin()
        }
    }

    private init(recipe: SessionPool.Recipe, key: PostgresSessionKey, runtime: ListenerRuntime, eventLoop: any EventLoop) {
        self.recipe = recipe
        self.key = key
        self.runtime = runtime
        self.eventLoop = eventLoop
        machine = PostgresProxyHandshake(configuration: .init(checksWritable: runtime.configuration.effectiveRole == .writer))
        upstream = UpstreamLink(dial: runtime.upstreamDial, eventLoop: eventLoop)
    }

    /// Holds itself (through the link's delegate and the timer) until the login ends.
    private func begin() {
        upstream.delegate = self
        let login = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleTask(in: runtime.handshakeTimeout) {
            login.value.end(failure: "the login did not finish within \(login.value.runtime.configuration.handshakeTimeoutSeconds) s")
        }
        var startup = FrontendMessages.startup(version: key.protocolVersion, parameters: key.parameters.sorted { $0.key < $1.key })
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
                upstream.connect()
                fetchPassword(user: user)
            case .sendToUpstream(let bytes):
                upstream.send(bytes)
            case .startUpstreamTLS:
                upstream.startTLS()
            case .startRelaying:
                park()
            case .fail(let failure), .retryThrottled(_, let failure), .retryReadOnly(_, let failure):
                // A warm login never adds to a throttled server's load: the pool's back-off applies.
                end(failure: failure.reason)
            }
        }
    }

    private func fetchPassword(user: String) {
        let login = NIOLoopBound(self, eventLoop: eventLoop)
        let attempt = upstream.attempt
        runtime.fetchPassword(user: user, on: eventLoop) { result in
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

    private func park() {
        guard let session = machine.loggedInSession, upstreamBuffer.readableBytes == 0, let channel = try? upstream.handOff() else {
            return end(failure: "the server's login answer could not be kept for a later client")
        }
        end(failure: nil)
        runtime.sessionPool.resetAndPark(channel, key: recipe.key, keyDescription: recipe.keyDescription, state: session, bornAt: bornAt, uses: 0,
                                         farewell: PostgresSessionReset.terminate, reset: PostgresSessionReset?.none, runtime: runtime)
    }

    private func end(failure: String?) {
        guard !ended else { return }
        ended = true
        timer?.cancel()
        if failure != nil { upstream.close() }
        upstream.delegate = nil
        runtime.sessionPool.warmLoginEnded(recipe, on: eventLoop, failure: failure)
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
        guard !ended else { return }
        perform(machine.upstreamFailed(message, hint: hint))
    }
}

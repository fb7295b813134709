import NIOCore
import NIOPosix
import NIOSSL

/// What a session handler hears from its upstream connection while it logs in.
protocol UpstreamLinkDelegate: AnyObject {
    func upstreamConnected()
    func upstreamRead(_ bytes: ByteBuffer)
    func upstreamTLSEstablished()
    func upstreamFailed(_ message: String, hint: String?)
}

/// The upstream side of one session during login: dials (again, for a retry), starts TLS
/// and checks the certificate's name, and tells the session handler what happens. Lives on
/// the session's event loop; `attempt` keeps a dropped connection's late events out.
final class UpstreamLink {
    let dial: UpstreamDial
    let eventLoop: any EventLoop
    weak var delegate: (any UpstreamLinkDelegate)?
    private(set) var channel: (any Channel)?
    /// The server being dialed or connected to: the resolver's answer for this attempt.
    private(set) var target: HostAndPort
    /// The address actually connected to (cancel and KILL go to the same server).
    private(set) var address: SocketAddress?
    private(set) var attempt = 0
    private var handedOff = false
    /// How the current dial was asked for, to dial again after a failed connect.
    private var redial: (targetChosen: ((HostAndPort) -> Void)?, retries: Int)?
    static let connectRetries = 2

    init(dial: UpstreamDial, eventLoop: any EventLoop) {
        self.dial = dial
        self.eventLoop = eventLoop
        target = dial.resolver.endpoint
    }

    /// Dials the resolver's target — or `host` when a given server must be reached (a topology
    /// probe), or `address` (a known server: a KILL, reached as `host` if given) — and says which host was chosen
    /// (`targetChosen`, before the connection is up: the token is signed for it meanwhile).
    func connect(to address: SocketAddress? = nil, host: HostAndPort? = nil, targetChosen: ((HostAndPort) -> Void)? = nil) {
        redial = address == nil && host == nil && dial.resolver.retriesFailedConnects ? (targetChosen, 0) : nil
        dialAgain(to: address, host: host, targetChosen: targetChosen)
    }

    private func dialAgain(to address: SocketAddress?, host: HostAndPort?, targetChosen: ((HostAndPort) -> Void)?) {
        close()
        attempt += 1
        let attempt = self.attempt
        let link = NIOLoopBound(self, eventLoop: eventLoop)
        let announce = NIOLoopBound(targetChosen, eventLoop: eventLoop)
        let connected: EventLoopFuture<any Channel>
        if let address {
            if let host { target = host }
            connected = makeBootstrap(attempt: attempt).connect(to: address)
            targetChosen?(target)
        } else {
            let chosen = host.map { eventLoop.makeSucceededFuture($0) } ?? dial.resolver.target(on: eventLoop)
            connected = chosen.flatMap { target in
                guard attempt == link.value.attempt else { return link.value.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
                link.value.target = target
                announce.value?(target)
                let bootstrap = link.value.makeBootstrap(attempt: attempt)
                if let address = link.value.dial.hostOverrides.address(for: target) { return bootstrap.connect(to: address) }
                return bootstrap.connect(host: target.host, port: target.port)
            }
        }
        connected.whenComplete { result in link.value.connectFinished(result, attempt: attempt) }
    }

    private func makeBootstrap(attempt: Int) -> ClientBootstrap {
        let link = NIOLoopBound(self, eventLoop: eventLoop)
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(dial.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: dial.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandshakeHandler(link: link, attempt: attempt))
                }
            }
    }

    private func connectFinished(_ result: Result<any Channel, any Error>, attempt: Int) {
        switch result {
        case .success(let channel):
            guard attempt == self.attempt, !handedOff else {
                channel.close(promise: nil)
                return
            }
            self.channel = channel
            address = channel.remoteAddress
            delegate?.upstreamConnected()
        case .failure(let error):
            failed(error, attempt: attempt)
        }
    }

    func send(_ bytes: ByteBuffer) { channel?.writeAndFlush(bytes, promise: nil) }

    /// The TLS version agreed with the server, once its handshake is done.
    var tlsVersion: TLSVersion? {
        try? channel?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).tlsVersion
    }

    /// The verified server certificate, for SCRAM channel binding.
    var peerCertificateDER: [UInt8]? { try? peerCertificate?.toDERBytes() }

    private var peerCertificate: NIOSSLCertificate? {
        try? channel?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
    }

    func startTLS() {
        guard let channel else { return }
        do {
            try channel.pipeline.syncOperations.addHandler(try dial.tls.makeHandler(for: target), position: .first)
        } catch {
            delegate?.upstreamFailed("cannot start TLS to \(target): \(error)", hint: nil)
        }
    }

    /// Closes the current connection; its late events are ignored.
    func close() {
        attempt += 1
        channel?.close(promise: nil)
        channel = nil
    }

    /// Ends the login phase: removes the handshake handler and returns the channel.
    func handOff() throws -> (any Channel)? {
        guard let channel else { return nil }
        let adopted = handedOff
        handedOff = true
        guard !adopted else { return channel }
        let pipeline = channel.pipeline.syncOperations
        try pipeline.removeHandler(pipeline.handler(type: UpstreamHandshakeHandler.self)).whenFailure { _ in }
        return channel
    }

    /// The session's upstream outlives its client (parked for the next): the link no longer
    /// closes it when the client's session ends.
    func letGo() {
        attempt += 1
        channel = nil
    }

    /// Takes a channel that logged in earlier (a parked session) instead of dialing: it is
    /// already past login, so `handOff` returns it as it is.
    func adopt(_ channel: any Channel) {
        close()
        self.channel = channel
        address = channel.remoteAddress
        handedOff = true
    }

    // MARK: Events from UpstreamHandshakeHandler

    func read(_ bytes: ByteBuffer, attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        delegate?.upstreamRead(bytes)
    }

    func tlsEstablished(attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        if let expected = dial.tls.missingName(in: peerCertificate, for: target) {
            dial.reportFailure("tls")
            delegate?.upstreamFailed(
                "TLS to \(target) failed: the server certificate does not match host name \(expected)",
                hint: "Connect by the endpoint's DNS name, or set tls.server_name to a name in the certificate.")
            return
        }
        delegate?.upstreamTLSEstablished()
    }

    func failed(_ error: any Error, attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        dial.reportFailure(UpstreamFailure.reason(error))
        if channel == nil {
            dial.resolver.connectFailed(to: target)
            if let redial, redial.retries < Self.connectRetries, !(error is AuroraRouter.NoInstance) {
                self.redial?.retries += 1
                return dialAgain(to: nil, host: nil, targetChosen: redial.targetChosen)
            }
        }
        // The certificate the server presented, if the handshake got that far: it tells an
        // expired or not-yet-valid certificate from one no trusted CA signed.
        var (message, hint) = UpstreamFailure.describe(error, upstream: target, tls: dial.tlsSettings, presented: peerCertificate)
        if let address = dial.hostOverrides.address(for: target) { message += " (dialed \(address.ipAddress ?? "?") as resolve: says)" }
        delegate?.upstreamFailed(message, hint: hint)
    }

    func closed(attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        dial.reportFailure("closed")
        delegate?.upstreamFailed("the database server \(target) closed the connection during login", hint: nil)
    }
}

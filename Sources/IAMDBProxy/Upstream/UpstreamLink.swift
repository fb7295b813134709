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
    let runtime: ListenerRuntime
    let eventLoop: any EventLoop
    weak var delegate: (any UpstreamLinkDelegate)?
    private(set) var channel: (any Channel)?
    /// The address actually connected to (cancel and KILL go to the same server).
    private(set) var address: SocketAddress?
    private(set) var attempt = 0
    private var handedOff = false

    init(runtime: ListenerRuntime, eventLoop: any EventLoop) {
        self.runtime = runtime
        self.eventLoop = eventLoop
    }

    private var target: HostAndPort { runtime.configuration.upstream }

    /// Dials the listener's upstream, or `address` when a known server must be reached.
    func connect(to address: SocketAddress? = nil) {
        close()
        attempt += 1
        let attempt = self.attempt
        let link = NIOLoopBound(self, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(runtime.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: ProxyServer.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandshakeHandler(link: link, attempt: attempt))
                }
            }
        let connected = address.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: target.host, port: target.port)
        connected.whenComplete { result in link.value.connectFinished(result, attempt: attempt) }
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

    func startTLS() {
        guard let channel else { return }
        do {
            try channel.pipeline.syncOperations.addHandler(try runtime.upstreamTLS.makeHandler(), position: .first)
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
        handedOff = true
        let pipeline = channel.pipeline.syncOperations
        try pipeline.removeHandler(pipeline.handler(type: UpstreamHandshakeHandler.self)).whenFailure { _ in }
        return channel
    }

    // MARK: Events from UpstreamHandshakeHandler

    func read(_ bytes: ByteBuffer, attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        delegate?.upstreamRead(bytes)
    }

    func tlsEstablished(attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        if runtime.configuration.tls.mode == .verifyFull, let expected = runtime.upstreamTLS.serverHostname,
            let certificate = try? channel?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate,
            !CertificateName.certificate(certificate, matches: expected)
        {
            runtime.upstreamFailed(reason: "tls")
            delegate?.upstreamFailed(
                "TLS to \(target) failed: the server certificate does not match host name \(expected)",
                hint: "Connect by the endpoint's DNS name, or set tls.server_name to a name in the certificate.")
            return
        }
        delegate?.upstreamTLSEstablished()
    }

    func failed(_ error: any Error, attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        runtime.upstreamFailed(reason: UpstreamFailure.reason(error))
        // The certificate the server presented, if the handshake got that far: it tells an
        // expired or not-yet-valid certificate from one no trusted CA signed.
        let presented = try? channel?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        let (message, hint) = UpstreamFailure.describe(error, upstream: target, tls: runtime.configuration.tls, presented: presented)
        delegate?.upstreamFailed(message, hint: hint)
    }

    func closed(attempt: Int) {
        guard attempt == self.attempt, !handedOff else { return }
        runtime.upstreamFailed(reason: "closed")
        delegate?.upstreamFailed("the database server \(target) closed the connection during login", hint: nil)
    }
}

import NIOCore
import NIOSSL

/// TLS towards clients (`client_tls`), offering ALPN `postgresql` for direct-TLS clients.
struct ClientTLSContext: Sendable {
    let context: NIOSSLContext

    init(_ settings: ListenerConfiguration.ClientTLS, alpn: [String]) throws {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(settings.certFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = alpn
        context = try NIOSSLContext(configuration: configuration)
    }

    /// Puts the TLS server handler in front of a client connection's other handlers.
    func install(in pipeline: ChannelPipeline) throws {
        try pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }
}

import NIOCore
import NIOSSL

/// TLS towards clients (`client_tls`), offering ALPN `postgresql` for direct-TLS clients.
struct ClientTLSContext: Sendable {
    let context: NIOSSLContext

    init(_ settings: ListenerConfiguration.ClientTLS, alpn: [String]) throws {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(settings.certFile) } catch {
            throw TLSFileError(key: "client_tls.cert_file", path: settings.certFile, kind: .certificate)
        }
        guard !chain.isEmpty else { throw TLSFileError(key: "client_tls.cert_file", path: settings.certFile, kind: .certificate) }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem) } catch {
            throw TLSFileError(key: "client_tls.key_file", path: settings.keyFile, kind: .privateKey)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = alpn
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw TLSFileError(key: "client_tls.key_file", path: settings.keyFile, kind: .mismatch)
        }
    }

    /// Puts the TLS server handler in front of a client connection's other handlers.
    func install(in pipeline: ChannelPipeline) throws {
        try pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }
}

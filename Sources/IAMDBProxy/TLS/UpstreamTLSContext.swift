import NIOSSL

/// TLS settings for one listener's upstream, built once when the listener starts.
struct UpstreamTLSContext: Sendable {
    let context: NIOSSLContext
    /// The name sent as SNI and verified, or nil for an IP upstream (swift-nio-ssl refuses IP
    /// SNI; verification then uses the certificate's IP SAN).
    let serverHostname: String?
    /// `verify-full`: the certificate must name `serverHostname` (see `CertificateName`).
    let checksName: Bool

    init(_ settings: ListenerConfiguration.UpstreamTLS, upstreamHost: String, isIPAddress: Bool) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch settings.mode {
        case .verifyFull:
            // The RDS CA bundle is trusted in addition to the system roots: RDS instances and
            // clusters present RDS CA certificates, RDS Proxy and DSQL public ACM ones.
            configuration.certificateVerification = .fullVerification
            configuration.trustRoots = .default
            if let caFile = settings.caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        case .verifyCA:
            // Without a name check, trusting the system roots would hand the token to anyone
            // with any publicly trusted certificate; libpq refuses that combination too.
            guard let caFile = settings.caFile else { throw UpstreamTLSSettingsError.verifyCAWithoutCAFile }
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .file(caFile)
        case .require:
            configuration.certificateVerification = .none
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            // The only file this context reads; anything else wrong here is not the user's to fix.
            guard let caFile = settings.caFile else { throw error }
            throw TLSFileError(key: "tls.ca_file", path: caFile, kind: .caBundle)
        }
        let name = settings.serverName ?? upstreamHost
        serverHostname = settings.serverName == nil && isIPAddress ? nil : name
        checksName = settings.mode == .verifyFull
    }

    /// The host name `certificate` should carry and does not, when this context checks names.
    func missingName(in certificate: NIOSSLCertificate?) -> String? {
        guard checksName, let expected = serverHostname, let certificate, !CertificateName.certificate(certificate, matches: expected) else {
            return nil
        }
        return expected
    }

    func makeHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
    }
}

enum UpstreamTLSSettingsError: Error, CustomStringConvertible {
    case verifyCAWithoutCAFile
    var description: String { "tls.mode verify-ca needs tls.ca_file: it trusts only that CA (use verify-full to trust the system roots)" }
}

import NIOSSL

/// TLS settings for one listener's upstream, built once when the listener starts.
struct UpstreamTLSContext: Sendable {
    let context: NIOSSLContext
    /// `tls.server_name`: the name sent as SNI and verified whatever host is dialed.
    let fixedServerName: String?
    /// `verify-full`: the certificate must name `serverHostname` (see `CertificateName`).
    let checksName: Bool

    init(_ settings: ListenerConfiguration.UpstreamTLS) throws {
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
        fixedServerName = settings.serverName
        checksName = settings.mode == .verifyFull
    }

    /// The name sent as SNI and verified when dialing `target` — `tls.server_name`, else the
    /// host dialed (an instance endpoint, when a topology picks one) — or nil for an IP
    /// (swift-nio-ssl refuses IP SNI; verification then uses the certificate's IP SAN).
    func serverHostname(for target: HostAndPort) -> String? {
        fixedServerName ?? (target.isIPAddress ? nil : target.host)
    }

    /// The host name `certificate` should carry for `target` and does not, when this context checks names.
    func missingName(in certificate: NIOSSLCertificate?, for target: HostAndPort) -> String? {
        guard checksName, let expected = serverHostname(for: target), let certificate, !CertificateName.certificate(certificate, matches: expected) else {
            return nil
        }
        return expected
    }

    func makeHandler(for target: HostAndPort) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname(for: target))
    }
}

enum UpstreamTLSSettingsError: Error, CustomStringConvertible {
    case verifyCAWithoutCAFile
    var description: String { "tls.mode verify-ca needs tls.ca_file: it trusts only that CA (use verify-full to trust the system roots)" }
}

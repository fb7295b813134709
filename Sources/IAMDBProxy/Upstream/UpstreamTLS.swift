import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// TLS settings for one listener's upstream, built once when the listener starts.
struct UpstreamTLSContext: Sendable {
    let context: NIOSSLContext
    /// The name sent as SNI and verified, or nil for an IP upstream (swift-nio-ssl refuses IP
    /// SNI; verification then uses the certificate's IP SAN).
    let serverHostname: String?

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
        context = try NIOSSLContext(configuration: configuration)
        let name = settings.serverName ?? upstreamHost
        serverHostname = settings.serverName == nil && isIPAddress ? nil : name
    }

    func makeHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
    }
}

enum UpstreamTLSSettingsError: Error, CustomStringConvertible {
    case verifyCAWithoutCAFile
    var description: String { "tls.mode verify-ca needs tls.ca_file: it trusts only that CA (use verify-full to trust the system roots)" }
}

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

/// Turns connect and TLS failures into one sentence that says what to do.
enum UpstreamFailure {
    /// The metrics label for a failure: tls, timeout or connect.
    static func reason(_ error: any Error) -> String {
        if error is NIOSSLError || error is BoringSSLError || "\(error)".contains("SSL") { return "tls" }
        if case .connectTimeout = error as? ChannelError { return "timeout" }
        return "connect"
    }

    static func describe(_ error: any Error, upstream: HostAndPort, tls: ListenerConfiguration.UpstreamTLS,
                         presented: NIOSSLCertificate? = nil, now: Date = Date()) -> (message: String, hint: String?) {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed"), let presented,
            let validity = validityProblem(presented, now: now)
        {
            return ("TLS to \(upstream) failed: the server certificate \(validity)",
                    "Renew the server certificate, or check this host's clock (it reads \(now.formatted(.iso8601))).")
        }
        if text.contains("failedToValidateHostname") || text.contains("hostname") && text.contains("valid") {
            return ("TLS to \(upstream) failed: the server certificate does not match host name \(tls.serverName ?? upstream.host)",
                    "Connect by the endpoint's DNS name, or set tls.server_name to a name in the certificate.")
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return ("TLS to \(upstream) failed: the server certificate is not signed by a trusted CA",
                    "Set tls.ca_file to the RDS CA bundle (global-bundle.pem).")
        }
        if error is NIOSSLError || text.contains("SSL") {
            return ("TLS to \(upstream) failed: \(text)", nil)
        }
        if let connectError = error as? ChannelError, case .connectTimeout(let timeout) = connectError {
            return ("cannot connect to \(upstream): no answer within \(timeout.nanoseconds / 1_000_000) ms", "Check the security group and that the endpoint is reachable from here.")
        }
        if let connectionError = error as? NIOConnectionError {
            if connectionError.dnsAError != nil || connectionError.dnsAAAAError != nil, connectionError.connectionErrors.isEmpty {
                return ("cannot connect to \(upstream): the host name does not resolve", "Check the upstream host name.")
            }
            let reasons = connectionError.connectionErrors.map { "\($0.target): \($0.error)" }.joined(separator: "; ")
            return ("cannot connect to \(upstream): \(reasons.isEmpty ? "no address found" : reasons)", nil)
        }
        return ("cannot connect to \(upstream): \(text)", nil)
    }
}

extension UpstreamFailure {
    /// "expired on …" / "is not valid until …" when `now` is outside the certificate's period.
    static func validityProblem(_ certificate: NIOSSLCertificate, now: Date) -> String? {
        let notBefore = Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore))
        let notAfter = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        if now > notAfter { return "expired on \(notAfter.formatted(.iso8601))" }
        if now < notBefore { return "is not valid until \(notBefore.formatted(.iso8601))" }
        return nil
    }
}

/// Host name verification that swift-nio-ssl leaves out: it accepts a certificate whose IP
/// address SAN matches the peer address even when a host name was asked for. With
/// `verify-full` and a host name, the certificate must carry that DNS name (RFC 6125, one
/// left-most wildcard label).
enum CertificateName {
    static func certificate(_ certificate: NIOSSLCertificate, matches hostname: String) -> Bool {
        var host = hostname.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
            let dnsName = String(decoding: name.contents, as: UTF8.self).lowercased()
            if dnsName == host { return true }
            if dnsName.hasPrefix("*."), let dot = host.firstIndex(of: "."), dot != host.startIndex,
                host[host.index(after: dot)...] == dnsName.dropFirst(2)
            {
                return true
            }
        }
        return false
    }
}

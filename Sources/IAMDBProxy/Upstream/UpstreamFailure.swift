import Foundation
import NIOCore
import NIOPosix
import NIOSSL

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
            let reasons = connectionError.connectionErrors.map { "\($0.target.logDescription): \(SystemErrorWords.describe($0.error))" }
                .joined(separator: "; ")
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

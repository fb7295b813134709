import NIOSSL

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

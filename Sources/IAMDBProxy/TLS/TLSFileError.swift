/// A certificate, key or CA file that exists but cannot be used, said with its path and the
/// fix, instead of swift-nio-ssl's `failedToLoadCertificate`.
struct TLSFileError: Error, CustomStringConvertible {
    enum Kind {
        case certificate, privateKey, caBundle, mismatch
    }

    let key: String
    let path: String
    let kind: Kind

    var description: String {
        switch kind {
        case .certificate:
            "\(key) \(path): not a PEM certificate (expected -----BEGIN CERTIFICATE-----)"
        case .privateKey:
            "\(key) \(path): not an unencrypted PEM private key (expected -----BEGIN PRIVATE KEY----- or -----BEGIN EC/RSA PRIVATE KEY-----)"
        case .caBundle:
            "\(key) \(path): not a PEM bundle of CA certificates; for RDS use global-bundle.pem from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
        case .mismatch:
            "\(key) \(path): the private key does not belong to the certificate in client_tls.cert_file"
        }
    }
}

import Foundation
import Testing

@testable import IAMDBProxy

/// A TLS file that exists but is not what it should be is named with its key, path and fix,
/// not as swift-nio-ssl's `failedToLoadCertificate`.
@Suite struct TLSFileErrorTests {
    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "tls-\(UUID().uuidString).pem"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aCAFileThatIsNotPEMNamesTheKeyPathAndWhereAWSPublishesTheBundle() throws {
        let path = try Self.file("this is not a certificate\n")
        let settings = ListenerConfiguration.UpstreamTLS(mode: .verifyFull, caFile: path)
        let error = #expect(throws: TLSFileError.self) { try UpstreamTLSContext(settings) }
        #expect(error?.description.hasPrefix("tls.ca_file \(path): not a PEM bundle") == true, "\(String(describing: error))")
        #expect(error?.description.contains("global-bundle.pem") == true)
    }

    @Test func aClientCertificateThatIsNotPEMNamesItsKeyAndPath() throws {
        let certificate = try Self.file("garbage\n"), key = try Self.file("garbage\n")
        let error = #expect(throws: TLSFileError.self) {
            try ClientTLSContext(.init(certFile: certificate, keyFile: key), alpn: [])
        }
        #expect(error?.description == "client_tls.cert_file \(certificate): not a PEM certificate (expected -----BEGIN CERTIFICATE-----)")
    }
}

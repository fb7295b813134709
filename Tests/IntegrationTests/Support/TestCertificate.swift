import Foundation
import TestSupport

/// A server certificate for throwaway servers, signed by the test environment's CA (so the
/// proxy's `ca_file` trusts it) for exactly `names` — for tests where TLS must check the name
/// of each host dialed (Aurora instance endpoints), not `localhost`.
enum TestCertificate {
    static func issue(names: [String], env: TestEnvironment) throws -> (certificate: String, key: String) {
        let folder = try LoopbackScript.temporaryFolder("test-certificate-")
        let (certificate, key, request, extensions) = (folder + "/server.pem", folder + "/server.key", folder + "/server.csr", folder + "/server.ext")
        try "subjectAltName=\(names.map { "DNS:\($0)" }.joined(separator: ","))\nextendedKeyUsage=serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        for arguments in [
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(names[0])", "-keyout", key, "-out", request],
            ["x509", "-req", "-in", request, "-CA", env.dir + "/ca/ca.pem", "-CAkey", env.dir + "/ca/ca.key", "-CAcreateserial",
             "-CAserial", folder + "/ca.srl", "-days", "2", "-extfile", extensions, "-out", certificate],
        ] {
            let result = try runProcess("/usr/bin/openssl", arguments)
            guard result.status == 0 else { throw HarnessError(description: "openssl \(arguments[0]): \(result.stderr)") }
        }
        return (certificate, key)
    }
}

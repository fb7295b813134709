import Crypto

/// SCRAM's `tls-server-end-point` channel binding (RFC 5929 §4.1): the hash of the server's
/// certificate (DER), with the hash function of the certificate's own signature algorithm —
/// SHA-256 when that is MD5 or SHA-1 — so a SHA-384-signed certificate (RDS's ECC CAs) binds
/// with SHA-384. Bound, a SCRAM login proves the password went to the server whose certificate
/// the proxy verified, not to anyone relaying it.
public enum TLSServerEndPoint {
    public static let name = "tls-server-end-point"

    enum Digest { case sha256, sha384, sha512 }

    /// The binding data for a certificate, or nil when its signature algorithm names no hash this
    /// proxy knows (Ed25519, RSASSA-PSS, SHA-224) or the DER cannot be read: the login then goes
    /// without channel binding, as libpq does.
    public static func bindingData(certificateDER der: [UInt8]) -> [UInt8]? {
        guard let oid = signatureAlgorithmOID(der), let digest = digests[oid] else { return nil }
        switch digest {
        case .sha256: return Array(SHA256.hash(data: der))
        case .sha384: return Array(SHA384.hash(data: der))
        case .sha512: return Array(SHA512.hash(data: der))
        }
    }

    /// Signature algorithm OIDs (content bytes) by the hash RFC 5929 binds with.
    static let digests: [[UInt8]: Digest] = {
        let rsa: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01]  // 1.2.840.113549.1.1
        let ecdsa: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04]  // 1.2.840.10045.4
        let dsa: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x03]  // 1.2.840.10040.4.3 (dsa-with-sha1)
        let dsaSHA256: [UInt8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02]  // 2.16.840.1.101.3.4.3.2
        return [
            rsa + [0x04]: .sha256, rsa + [0x05]: .sha256, rsa + [0x0B]: .sha256, rsa + [0x0C]: .sha384, rsa + [0x0D]: .sha512,
            ecdsa + [0x01]: .sha256, ecdsa + [0x03, 0x02]: .sha256, ecdsa + [0x03, 0x03]: .sha384, ecdsa + [0x03, 0x04]: .sha512,
            dsa: .sha256, dsaSHA256: .sha256,
        ]
    }()

    /// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, … }, … }
    static func signatureAlgorithmOID(_ der: [UInt8]) -> [UInt8]? {
        var reader = DERReader(der[...])
        guard var certificate = reader.read(tag: 0x30), certificate.read(tag: 0x30) != nil,
              var algorithm = certificate.read(tag: 0x30), let oid = algorithm.read(tag: 0x06)
        else { return nil }
        return Array(oid.bytes)
    }
}

/// Just enough DER to walk to a certificate's signature algorithm: tag, definite length, contents.
struct DERReader {
    private(set) var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    /// The contents of the next element if it has `tag`; moves past it.
    mutating func read(tag: UInt8) -> DERReader? {
        guard bytes.first == tag, bytes.count >= 2 else { return nil }
        var index = bytes.startIndex + 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 4, bytes.endIndex - index >= count else { return nil }
            length = bytes[index..<index + count].reduce(0) { $0 << 8 | Int($1) }
            index += count
        }
        guard length >= 0, bytes.endIndex - index >= length else { return nil }
        let contents = DERReader(bytes[index..<index + length])
        bytes = bytes[(index + length)...]
        return contents
    }
}
